// Processes of this machine that are not commands run to completion (host/run.ts runs those): a
// detached helper that outlives the CLI, and what a process id runs now.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * Starts `argv` detached from this process (its own session, no stdio) so it outlives it; returns its
 * pid (undefined when it could not start).
 */
export function spawnDetached(argv: string[], env: NodeJS.ProcessEnv = process.env): number | undefined {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { detached: true, stdio: "ignore", env });
  child.unref();
  return child.pid;
}

/** The command line of a live process (/proc/PID/cmdline, split at NULs); null when it is gone. */
export function commandLine(pid: number): string[] | null {
  try {
    // Read synchronously: /proc does not block, and callers poll it.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return null;
  }
}
