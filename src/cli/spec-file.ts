// Reading a spec file for a command: a missing file or any problem becomes one clear UserError.
import { readTextNow } from "../host/files.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "./errors.ts";
import { specPath } from "./paths.ts";

export function readSpec(given?: string): { spec: Spec; file: string } {
  const file = specPath(given);
  let text: string;
  try {
    text = readTextNow(file);
  } catch (e) {
    throw new UserError(
      `cannot read spec ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pass --spec FILE`,
    );
  }
  const r = loadSpec(text, file);
  if (!r.ok)
    throw new UserError(
      `${r.report}\n${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} in ${file}; nothing was changed`,
    );
  return { spec: r.spec, file };
}
