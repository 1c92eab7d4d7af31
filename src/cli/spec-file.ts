// Reading a spec file for a command: a missing file or any problem becomes one clear UserError that
// says where the path came from (--spec, $PORTHOLE_SPEC, or the default places).
import { join } from "node:path";
import { pathExists } from "../host/files.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "./errors.ts";
import { readGivenFile } from "./given-file.ts";
import { configDir, specPath } from "./paths.ts";

/**
 * The spec at --spec (`given`), else $PORTHOLE_SPEC, else ./porthole.yaml, else the config directory's
 * (`file`: the path it was read from; `text`: what it holds).
 * Throws a UserError: exit 2 naming --spec or PORTHOLE_SPEC when the file they name cannot be read;
 * exit 1 when no spec is in the default places, or when the spec has problems (all of them listed).
 */
export function readSpec(given?: string): { spec: Spec; file: string; text: string } {
  const file = specPath(given);
  let text: string;
  if (given !== undefined || process.env.PORTHOLE_SPEC) {
    const field = given !== undefined ? "--spec" : "$PORTHOLE_SPEC";
    text = readGivenFile(field, file, "give the path of a porthole spec");
  } else if (!pathExists(file))
    throw new UserError(
      `no spec in ./porthole.yaml or ${join(configDir(), "porthole.yaml")}: pass --spec FILE (\`porthole hub init\` writes the hub's)`,
    );
  else text = readGivenFile("spec", file, "pass --spec FILE");
  const r = loadSpec(text, file);
  if (!r.ok)
    throw new UserError(
      `${r.report}\n${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} in ${file}; nothing was changed`,
    );
  return { spec: r.spec, file, text };
}
