// Reading a spec file for a command: a missing file or any problem becomes one clear UserError that
// says where the path came from (--spec, $PORTHOLE_SPEC, or the default places).
import { join } from "node:path";
import { pathExists, readTextNow } from "../host/files.ts";
import { specMissingProblem } from "../hub/spec-missing.ts";
import { appliedRecordFile } from "../reconcile/state.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "./errors.ts";
import { readGivenFile } from "./given-file.ts";
import { configDir, specPath, stateDir } from "./paths.ts";

/** The file's text, or null when it cannot be read. */
function readOrNull(path: string): string | null {
  try {
    return readTextNow(path);
  } catch {
    return null;
  }
}

/**
 * The spec at --spec (`given`), else $PORTHOLE_SPEC, else ./porthole.yaml, else the config directory's
 * (`file`: the path it was read from; `text`: what it holds).
 * Throws a UserError: exit 2 naming --spec or PORTHOLE_SPEC when the file they name cannot be read;
 * exit 1 when no spec is in the default places (on a hub applied here: how to put its spec back), or
 * when the spec has problems (all of them listed).
 */
export function readSpec(given?: string): { spec: Spec; file: string; text: string } {
  const file = specPath(given);
  let text: string;
  if (given !== undefined || process.env.PORTHOLE_SPEC) {
    const field = given !== undefined ? "--spec" : "$PORTHOLE_SPEC";
    text = readGivenFile(field, file, "give the path of a porthole spec");
  } else if (!pathExists(file)) {
    // A hub applied here whose spec file is gone: put it back, not `hub init` (which refuses there).
    const record = appliedRecordFile(stateDir());
    const gone = specMissingProblem(join(configDir(), "porthole.yaml"), record, readOrNull(record));
    throw new UserError(
      gone ??
        `no spec in ./porthole.yaml or ${join(configDir(), "porthole.yaml")}: pass --spec FILE (\`porthole hub init\` writes the hub's)`,
    );
  } else text = readGivenFile("spec", file, "pass --spec FILE");
  const r = loadSpec(text, file);
  if (!r.ok)
    throw new UserError(
      `${r.report}\n${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} in ${file}; nothing was changed`,
    );
  return { spec: r.spec, file, text };
}
