// The one way porthole runs a program: an argument array (never a shell string), secrets on stdin
// and never in logs, and failures that say what ran, how it ended and what to try.
import { spawn } from "node:child_process";
import { constants } from "node:os";

/**
 * A finished program's exit status as a shell reports it: its code, or 128 + the signal's number when a
 * signal ended it (SIGINT 130, SIGTERM 143, SIGKILL 137), so a caller passing it on says how it ended.
 */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + ((signal && constants.signals[signal]) || 0);
}

/** How long a program past its time limit has to end after SIGTERM before it gets SIGKILL, ms. */
const KILL_GRACE_MS = 2000;

export interface RunOptions {
  input?: string;
  /** The input is secret: never shown in errors or logs. */
  secretInput?: boolean;
  /** Return non-zero exits instead of throwing. */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Its time limit (default 60 s): then SIGTERM, and SIGKILL KILL_GRACE_MS later; said in stderr. */
  timeoutMs?: number;
  /**
   * In its own session and process group (setsid), for a program that leaves a daemon behind: a
   * Ctrl-C meant for the command that ran it (a shell job's process group) does not reach the daemon.
   */
  detached?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    const stderr = result.stderr.trim() || result.stdout.trim();
    const hint = hintFor(stderr, result.code);
    super(
      `\`${argv.join(" ")}\` failed (exit ${result.code})${stderr ? `: ${stderr}` : ""}${hint ? `\n  hint: ${hint}` : ""}`,
    );
  }
}

function hintFor(stderr: string, code: number): string | undefined {
  if (/Operation not permitted|Permission denied|must be root|EPERM/i.test(stderr)) {
    return "this needs CAP_NET_ADMIN: run as root";
  }
  if (code === 127 || /ENOENT/.test(stderr))
    return "the program is not installed: run ./scripts/setup.sh (or apt-get install it)";
  if (/Cannot find device/.test(stderr)) return "the interface does not exist (yet)";
  return undefined;
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: opts.detached ?? false,
    });
    // Our own timer, not spawn's `timeout`: that one is cleared only on "exit", which a program that
    // is not installed never emits, so a missing tool kept the CLI alive for the whole timeout.
    const limit = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      // A program that ignores SIGTERM (a handler, or stuck) is not waited for past the grace.
      killer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    }, limit);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearTimeout(killer);
      const result = {
        code: e.code === "ENOENT" ? 127 : 1,
        stdout: "",
        stderr: `${cmd}: ${e.code ?? e.message}`,
      };
      if (opts.allowFail) resolve(result);
      else reject(new CommandError(argv, result));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      // Said as what happened: porthole's own limit, not a signal out of nowhere.
      const how = !signal
        ? ""
        : timedOut
          ? `\n(not done within ${limit / 1000} s: porthole ended it with ${signal})`
          : `\n(killed by ${signal})`;
      const result = {
        code: exitStatus(code, signal),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8") + how,
      };
      if (result.code === 0 || opts.allowFail) resolve(result);
      else reject(new CommandError(argv, result));
    });
    child.stdin.on("error", () => {}); // the program may exit before reading its input
    child.stdin.end(opts.input ?? "");
  });
}

/**
 * Runs a program and hands its stdout to `onLine` line by line as it arrives, so a long listing
 * (a conntrack table) is never held in memory whole. Resolves with the exit status (127: not installed;
 * 128 + the signal's number when one ended it).
 */
export function runLines(
  argv: string[],
  onLine: (line: string) => void,
  timeoutMs = 60_000,
): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    // Our own timer, as run()'s: spawn's `timeout` is cleared only on "exit", which a program that is
    // not installed never emits, so a hub without conntrack kept `porthole status` alive for 60 s.
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    let rest = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const text = rest + chunk;
      let start = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
        onLine(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === "ENOENT" ? 127 : 1);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (rest) onLine(rest);
      resolve(exitStatus(code, signal));
    });
  });
}

/**
 * Runs a program on this terminal (stdin, stdout and stderr are the caller's), for a person's
 * interactive command such as `porthole lab shell`. Resolves with its exit code (127: not installed;
 * 128 + signal number when killed).
 */
export function runAttached(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: "inherit" });
    child.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ENOENT" ? 127 : 1));
    child.on("close", (code, signal) => resolve(exitStatus(code, signal)));
  });
}
