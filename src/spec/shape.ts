// Turns zod's shape issues into diagnostics that name the field, the value and what is accepted.
import type { z } from "zod";
import { type Diagnostic, type Path, show } from "./diagnostics.ts";

const EXPECTED: Record<string, string> = {
  string: "expected text",
  int: "expected a whole number",
  number: "expected a number",
  boolean: "expected true or false",
  array: "expected a list",
  object: "expected a mapping of fields",
};

/** Messages written in schema.ts (zod's own start with a capital letter). */
const OWN = /^expected /;

export function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const p of path)
    v = v !== null && typeof v === "object" ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

function closest(word: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase());
    if (d < bestDist) [best, bestDist] = [o, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** Fills a required publicKey whose problem is already reported, so the rest of the section is still checked. */
export const STAND_IN_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/**
 * Checks `input` against `shape`, with diagnostics rooted at `base`. When only some fields are bad it
 * still returns a value (bad fields dropped, required ones replaced by `stand-ins`), so the meaning
 * checks can run on the rest and report everything in one go.
 */
export function checkShape<T>(
  shape: z.ZodType<T>,
  input: unknown,
  base: Path,
  standIns: Record<string, unknown> = {},
): { value?: T; problems: Diagnostic[] } {
  // An object schema's own field names, for "did you mean" on an unknown key.
  const fields = Object.keys((shape as { shape?: object }).shape ?? {});
  const r = shape.safeParse(input);
  if (r.success) return { value: r.data, problems: [] };
  const problems = describe(r.error.issues, input, base, fields);
  if (input === null || typeof input !== "object" || Array.isArray(input)) return { problems };
  const bad = new Set(r.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys : [i.path[0]])));
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !bad.has(k)));
  for (const [k, v] of Object.entries(standIns)) if (!(k in rest)) rest[k] = v;
  const retry = shape.safeParse(rest);
  return { value: retry.success ? retry.data : undefined, problems };
}

/**
 * One value (not an object) checked against `schema`: its output, or the problem's words as a spec
 * diagnostic gives them after the field ('"99999" is out of range; expected a port 1-65535 or ...').
 */
export function checkValue<T>(
  schema: z.ZodType<T>,
  input: unknown,
): { ok: true; value: T } | { ok: false; message: string } {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const first = describe(r.error.issues, input, [], [])[0];
  return { ok: false, message: first?.message ?? `${show(input)} is not accepted` };
}

function describe(issues: z.core.$ZodIssue[], input: unknown, base: Path, fields: string[]): Diagnostic[] {
  const problems: Diagnostic[] = [];
  for (const issue of issues) {
    const rel = issue.path as Path;
    const path = [...base, ...rel];
    const value = valueAt(input, rel);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const guess = closest(key, fields);
        const hint = guess ? `did you mean ${guess}? ` : "";
        problems.push({
          path: [...path, key],
          message: `unknown field; ${hint}accepted fields: ${fields.join(", ")}`,
        });
      }
    } else if (issue.code === "invalid_value") {
      problems.push({
        path,
        message: `${show(value)} is not accepted; use one of: ${issue.values.join(", ")}`,
      });
    } else if (issue.code === "custom") {
      // A field schema's own check (spec/fields.ts): its words follow the value, as in the rules.
      problems.push({ path, message: `${show(value)} ${issue.message}` });
    } else if (issue.code === "invalid_type" && value === undefined) {
      problems.push({ path, message: "is required" });
    } else if (issue.code === "invalid_type" || issue.code === "invalid_union" || OWN.test(issue.message)) {
      // A message of the schema's own ("expected a whole number") wins over the generic one.
      const expected = OWN.test(issue.message)
        ? issue.message
        : issue.code === "invalid_union"
          ? "expected a port 1-65535 or a range like 6000-6010"
          : issue.code === "invalid_type"
            ? EXPECTED[issue.expected]
            : undefined;
      problems.push({ path, message: `${show(value)} is not accepted; ${expected ?? issue.message}` });
    } else {
      problems.push({ path, message: `${show(value)}: ${issue.message}` });
    }
  }
  return problems;
}
