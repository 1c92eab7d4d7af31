// Spec text -> Spec, with every diagnostic located at line:column in the file.

import { type Diagnostic, formatDiagnostic } from "./diagnostics.ts";
import { parseYaml } from "./parse.ts";
import type { Spec } from "./types.ts";
import { validate } from "./validate.ts";

export type LoadResult = { ok: true; spec: Spec } | { ok: false; problems: Diagnostic[]; report: string };

export function loadSpec(text: string, file = "porthole.yaml"): LoadResult {
  const y = parseYaml(text);
  const fail = (problems: Diagnostic[]): LoadResult => ({
    ok: false,
    problems,
    report: problems.map((d) => formatDiagnostic(d, file)).join("\n"),
  });
  if (y.syntax.length) return fail(y.syntax);
  const r = validate(y.data ?? null);
  if (r.ok) return r;
  const located = r.problems.map((d) => ({ ...d, ...y.locate(d.path) }));
  return fail(located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)));
}
