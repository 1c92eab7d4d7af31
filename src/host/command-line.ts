// What a process id runs now, apart from processes.ts: `status` asks it of the daemon's pid and needs
// no child_process (a few ms of every run that loads it).
import { readFileSync } from "node:fs";

/** The command line of a live process (/proc/PID/cmdline, split at NULs); null when it is gone. */
export function commandLine(pid: number): string[] | null {
  try {
    // Read synchronously: /proc does not block, and callers poll it.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return null;
  }
}
