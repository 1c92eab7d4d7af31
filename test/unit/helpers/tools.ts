// System tools a test needs (nft, iptables-restore, unshare, wg...). Outside CI a missing tool skips
// the test; in CI (CI=true) it fails it, so a broken CI image cannot pass by skipping.
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";

export const inCI = () => /^(1|true|yes)$/i.test(process.env.CI ?? "");

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** The absolute path of a tool on $PATH (or in the sbin directories), or undefined. */
export function which(tool: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":").filter(Boolean), ...SBIN]) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {}
  }
  return undefined;
}

let netnsOk: boolean | undefined;
/** Whether `unshare --net` works here (root, or a kernel allowing it). */
export function canUnshareNet(): boolean {
  if (netnsOk === undefined) {
    const unshare = which("unshare");
    netnsOk = !!unshare && spawnSync(unshare, ["--net", "--", "true"]).status === 0;
  }
  return netnsOk;
}

/**
 * Returns true when every tool is present (and a private network namespace can be made, if asked).
 * Otherwise skips the test (outside CI) or fails it (in CI) and returns false.
 */
export function needTools(t: TestContext, tools: string[], opts: { netns?: boolean } = {}): boolean {
  const missing = tools.filter((x) => !which(x));
  if (opts.netns && !missing.includes("unshare") && !canUnshareNet())
    missing.push("unshare --net (needs root)");
  if (!missing.length) return true;
  const why = `missing: ${missing.join(", ")}`;
  if (inCI()) throw new Error(`${why} (CI=true: required tools must be installed, not skipped)`);
  t.skip(why);
  return false;
}

/** Runs `cmd args...` in a fresh, empty network namespace; returns status and output. */
export function inNetns(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(which("unshare") as string, ["--net", "--", cmd, ...args], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

export const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, encoding: "utf8" });
