// Process identity, detached start and clean stopping for the lab: a PID alone can be reused, so every
// process the lab records carries its start time and command line, and nothing is signalled unless both
// still match.
import { spawn as spawnChild } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";

export interface ProcIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot); survives exec, changes when the PID is reused. */
  starttime: string;
  /** The command line the process is expected to show (after its exec). */
  argv: string[];
  /** Another command line it may still show (the wrapper that execs it, e.g. nsenter, before the exec). */
  wrapper?: string[];
}

export function readCmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").slice(0, -1);
  } catch {
    return undefined;
  }
}

/** Start time and state letter from /proc/PID/stat (the comm field may contain spaces and parens). */
export function readStat(pid: number): { starttime: string; state: string } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); field 22 is rest[19].
    const starttime = rest[19];
    const state = rest[0];
    if (starttime === undefined || state === undefined) return undefined;
    return { starttime, state };
  } catch {
    return undefined;
  }
}

/** Alive (and not a zombie waiting to be reaped). */
export function isRunning(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X";
}

const sameArgv = (a: string[] | undefined, b: string[] | undefined) =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

/** The process with this PID is still the one that was recorded (same start time, expected command line). */
export function stillOurs(p: ProcIdentity): boolean {
  const s = readStat(p.pid);
  if (!s || s.state === "Z" || s.state === "X" || s.starttime !== p.starttime) return false;
  const cmd = readCmdline(p.pid);
  return sameArgv(cmd, p.argv) || sameArgv(cmd, p.wrapper);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops processes: SIGTERM, then SIGKILL for whatever is left after graceMs. Callers decide which PIDs are
 * theirs (see stillOurs / pidsInNetns); `check` is re-evaluated before each signal so a PID that died and
 * was reused in between is never hit.
 */
export async function stopProcesses(pids: number[], check: (pid: number) => boolean, graceMs = 2000) {
  const targets = pids.filter((p) => p !== process.pid && check(p));
  for (const p of targets) signal(p, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (targets.some(isRunning) && Date.now() < deadline) await sleep(25);
  const stubborn = targets.filter((p) => isRunning(p) && check(p));
  for (const p of stubborn) signal(p, "SIGKILL");
  const killDeadline = Date.now() + 3000;
  while (stubborn.some(isRunning) && Date.now() < killDeadline) await sleep(25);
  const left = targets.filter(isRunning);
  if (left.length) throw new Error(`processes ${left.join(", ")} did not exit after SIGKILL`);
  return targets;
}

export interface NsId {
  dev: number;
  ino: number;
}

/** dev/inode of a namespace file (/run/netns/NAME or /proc/PID/ns/net), or undefined when absent. */
export function nsId(path: string): NsId | undefined {
  try {
    const s = statSync(path);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}

/** PIDs of every process whose network namespace is `ns` (what `ip netns pids` does). */
export function pidsInNetns(ns: NsId): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const id = nsId(`/proc/${entry}/ns/net`);
    if (id && id.dev === ns.dev && id.ino === ns.ino) out.push(Number(entry));
  }
  return out;
}

/** Spawns a detached process (the one place the lab cannot use run(): it must not wait for the exit). */
export async function spawnDetached(
  full: string[],
  expected: string[],
  log: string,
  env: NodeJS.ProcessEnv,
): Promise<ProcIdentity> {
  const fd = openSync(log, "a", 0o600);
  const [cmd, ...args] = full as [string, ...string[]];
  let child: ReturnType<typeof spawnChild>;
  try {
    child = spawnChild(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env });
  } finally {
    closeSync(fd);
  }
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (e) => reject(new Error(`could not start \`${full.join(" ")}\`: ${e.message}`)));
  });
  failed.catch(() => {});
  child.unref();
  const pid = child.pid;
  if (pid === undefined) return await failed;
  const stat = readStat(pid);
  if (!stat) throw new Error(`\`${full.join(" ")}\` exited at once; see ${log}`);
  return { pid, starttime: stat.starttime, argv: expected, wrapper: full };
}
