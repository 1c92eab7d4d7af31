// Read-only looks at the host (`ip`, `wg show`, `nft list`, `iptables-save`) started in the same turn
// of the event loop run as one process: a shell that runs them one after another. The hub daemon looks
// every 2 s, and each program node starts costs the daemon ~1-3 ms of CPU (a fork of a ~100 MB
// process: its page tables, then copy-on-write faults), more than most of these programs cost
// themselves; a small shell forks them for a fraction of that. Still argument arrays: the script names
// only positions ("$3"), every word reaches the program as the argument it is, unquoted by anyone.
import { spawn } from "node:child_process";
import { type RunResult, run } from "./run.ts";

interface Pending {
  argv: string[];
  input?: string;
  resolve: (r: RunResult) => void;
}

let pending: Pending[] = [];

/**
 * Runs a read-only program as `run(argv, { input, allowFail: true })` does — the same exit status
 * (127: not installed, 128 + n: killed by signal n) and stdout — batched with the other reads of this
 * turn. Its stderr is not kept (these reads judge by status and stdout). Never rejects.
 */
export function read(argv: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    pending.push({ argv, input, resolve });
    if (pending.length === 1) setImmediate(flush);
  });
}

function flush(): void {
  const batch = pending;
  pending = [];
  if (batch.length === 1) {
    const [one] = batch as [Pending];
    void run(one.argv, { input: one.input, allowFail: true }).then(one.resolve);
    return;
  }
  void runBatch(batch).then(
    (results) => {
      for (const [i, p] of batch.entries()) p.resolve(results[i] as RunResult);
    },
    // The shell did not run or said something unexpected: each read on its own, as before batching.
    () => {
      for (const p of batch) void run(p.argv, { input: p.input, allowFail: true }).then(p.resolve);
    },
  );
}

/**
 * The script for `reads`, by position: $1 is the separator; each read's words and input follow. After
 * each program, a line of its own says the separator and its exit status.
 */
export function batchScript(reads: { argv: string[]; input?: string }[]): { script: string; args: string[] } {
  const args: string[] = [];
  const at = (word: string) => {
    args.push(word);
    return `"\${${args.length + 1}}"`; // $1 is the separator, pushed first by the caller
  };
  const lines = reads.map((r) => {
    const words = r.argv.map(at).join(" ");
    const command = r.input === undefined ? `${words} </dev/null` : `printf %s ${at(r.input)} | ${words}`;
    return `${command} 2>/dev/null; printf '\\n%s %s\\n' "$1" "$?"`;
  });
  return { script: lines.join("\n"), args };
}

/** Splits the shell's output into each read's stdout and status; throws when it does not have them all. */
export function splitBatch(out: string, separator: string, count: number): RunResult[] {
  const results: RunResult[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const mark = out.indexOf(`\n${separator} `, pos);
    const end = mark < 0 ? -1 : out.indexOf("\n", mark + 1);
    const code = end < 0 ? Number.NaN : Number(out.slice(mark + separator.length + 2, end));
    if (!Number.isInteger(code)) throw new Error(`read batch: no status for read ${i + 1} of ${count}`);
    results.push({ code, stdout: out.slice(pos, mark), stderr: "" });
    pos = end + 1;
  }
  if (pos !== out.length) throw new Error("read batch: output after the last read");
  return results;
}

/** The batch's time limit, as run's default for one program. */
const BATCH_TIMEOUT_MS = 60_000;

async function runBatch(batch: Pending[]): Promise<RunResult[]> {
  // node:crypto loaded here, not at start: a CLI's `status` and `doctor` read through this module.
  const { randomBytes } = await import("node:crypto");
  const separator = `porthole-read-${randomBytes(12).toString("hex")}`;
  const { script, args } = batchScript(batch);
  return new Promise((resolve, reject) => {
    // Its own process group, so a time-out ends the program that hangs, not the shell alone.
    const sh = spawn("sh", ["-c", script, "sh", separator, ...args], {
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    const out: Buffer[] = [];
    sh.stdout.on("data", (b: Buffer) => out.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (sh.pid) process.kill(-sh.pid, "SIGKILL");
      } catch {} // the group ended meanwhile
    }, BATCH_TIMEOUT_MS);
    sh.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sh.on("close", (code) => {
      clearTimeout(timer);
      // Each read as run() reports a program it ended (not again one by one: the hang would repeat).
      const stopped = `(not done within ${BATCH_TIMEOUT_MS / 1000} s: porthole ended it with SIGKILL)`;
      if (timedOut) return resolve(batch.map(() => ({ code: 137, stdout: "", stderr: stopped })));
      try {
        if (code !== 0) throw new Error(`read batch: sh ended with ${code}`);
        resolve(splitBatch(Buffer.concat(out).toString("utf8"), separator, batch.length));
      } catch (e) {
        reject(e);
      }
    });
  });
}
