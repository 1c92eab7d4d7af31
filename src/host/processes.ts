// Processes of this machine that are not commands run to completion (host/run.ts runs those): a
// detached helper that outlives the CLI. What a process id runs now: command-line.ts.
import { spawn } from "node:child_process";

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
