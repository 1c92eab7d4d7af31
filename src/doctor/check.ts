// What a doctor check is, and running a list of them: each check is a small named function over a
// context (the `Host` and what this side knows); a check that throws is reported "unknown", never "ok".
import type { Host } from "../host/types.ts";
import { count } from "../spec/diagnostics.ts";

/** ok: checked and fine; warn: works, but watch it; fail: breaks porthole; unknown: could not be checked. */
export type CheckStatus = "ok" | "warn" | "fail" | "unknown";

/** A fix doctor may make itself with `--fix`: safe (a runtime setting porthole would set anyway), said before done. */
export interface Repair {
  /** The command it amounts to, printed before it runs: "sysctl -w net.ipv4.ip_forward=1". */
  text: string;
  run(host: Host): Promise<void>;
}

export interface CheckResult {
  /** The check's name ("ip-forward"); a check may report several results (one per interface, rule, port). */
  id: string;
  status: CheckStatus;
  /** What was found, in one line; for "unknown", why it could not be checked. */
  found: string;
  /** The exact commands or settings that fix it (for "unknown": how to find out). */
  fix?: string[];
  /** Present when `porthole doctor --fix` may make the fix itself. */
  repair?: Repair;
}

/**
 * Nothing of the side to check is set up on this machine (no hub or peer record): the command was run
 * where it has nothing to look at (the CLI's usage exit, 2), unlike a record that does not load.
 */
export class NothingToCheck extends Error {}

export interface Check<C> {
  id: string;
  /** What it looks at, for --help and the README: "net.ipv4.ip_forward is 1". */
  about: string;
  run(ctx: C): Promise<CheckResult | CheckResult[]>;
}

/** Runs the checks one after another (their order is the report's); a check that throws is "unknown". */
export async function runChecks<C>(checks: Check<C>[], ctx: C): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of checks) {
    try {
      const r = await c.run(ctx);
      out.push(...(Array.isArray(r) ? r : [r]));
    } catch (e) {
      // A failed host command says what ran and how it ended on its first line, a hint on the next.
      const [first, ...rest] = (e as Error).message.split("\n").map((l) => l.trim());
      const hints = rest.filter(Boolean).map((l) => l.replace(/^hint: /, ""));
      out.push({
        id: c.id,
        status: "unknown",
        found: `could not check (${c.about}): ${first}`,
        fix: hints.length ? hints : ["run the command named above by hand to see why it failed"],
      });
    }
  }
  return out;
}

/** True when any result is a failure (doctor then exits non-zero). */
export const anyFailed = (results: CheckResult[]) => results.some((r) => r.status === "fail");

const LABEL: Record<CheckStatus, string> = { ok: "ok", warn: "warn", fail: "FAIL", unknown: "??" };

/**
 * One line per result, "FAIL ip-forward  net.ipv4.ip_forward is 0: …", each fix on an indented
 * `fix:` line under it; a last line counts them.
 */
export function renderResults(results: CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.id.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${LABEL[r.status].padEnd(4)} ${r.id.padEnd(width)}  ${r.found}`);
    const how = r.status === "unknown" ? "find out" : "fix";
    for (const f of r.fix ?? []) lines.push(`${" ".repeat(width + 7)}${how}: ${f}`);
  }
  const n = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  lines.push(
    `${count(results.length, "result")}: ${n("ok")} ok, ${n("warn")} warn, ${n("fail")} failed, ${n("unknown")} unknown${n("fail") ? "" : n("unknown") ? " (not everything could be checked)" : ""}`,
  );
  return lines.join("\n");
}

/** The results as JSON data: `fixable` when `--fix` would fix it, `autoFix` the command it would run. */
export function resultsJson(results: CheckResult[]): object[] {
  return results.map(({ repair, ...r }) => ({
    ...r,
    fixable: !!repair,
    ...(repair ? { autoFix: repair.text } : {}),
  }));
}
