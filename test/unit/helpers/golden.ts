// The golden cases: test/golden/<case>/porthole.yaml and, per host, the files porthole renders for it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile, hostNames } from "../../../src/compile/compile.ts";
import { renderFiles } from "../../../src/compile/render.ts";
import type { HostPlan } from "../../../src/plan/plan.ts";
import { loadSpec } from "../../../src/spec/load.ts";

export const GOLDEN_DIR = fileURLToPath(new URL("../../golden/", import.meta.url));

export function goldenCases(): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((d) => statSync(join(GOLDEN_DIR, d)).isDirectory())
    .sort();
}

/** host -> plan, compiled from the case's porthole.yaml. */
export function compileCase(name: string): Record<string, HostPlan> {
  const file = join(GOLDEN_DIR, name, "porthole.yaml");
  const r = loadSpec(readFileSync(file, "utf8"), file);
  if (!r.ok) throw new Error(`golden case ${name} does not validate:\n${r.report}`);
  return Object.fromEntries(hostNames(r.spec).map((host) => [host, compile(r.spec, host)]));
}

/** host -> file name -> text, rendered from the case's porthole.yaml. */
export function renderCase(name: string): Record<string, Record<string, string>> {
  const plans = compileCase(name);
  return Object.fromEntries(Object.entries(plans).map(([host, plan]) => [host, renderFiles(plan)]));
}
