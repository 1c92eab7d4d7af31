// Which porthole daemon runs on this host: `porthole hub run` / `porthole peer run` claim a pid file
// in the state directory, so a second one refuses at once, `status` can say whether (and since when)
// the daemon runs, `down` can make it stand down before removing what it would repair, and `apply` can
// tell the daemon's spec file (from its environment, not the shell's) from another.
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { commandLine } from "./command-line.ts";

export type DaemonRole = "hub" | "peer";

export interface DaemonInfo {
  pid: number;
  /** When it started, ISO 8601. */
  startedAt: string;
  /**
   * The spec file it keeps this host at (an absolute path: its environment's, which may not be the
   * shell's); absent from older daemons' pid files.
   */
  spec?: string;
}

export class DaemonRunning extends Error {
  constructor(
    readonly role: DaemonRole,
    readonly info: DaemonInfo,
  ) {
    // Named as the README and doctor name them: the hub daemon, the peer agent.
    super(
      `the ${role === "hub" ? "hub daemon" : "peer agent"} is already running, pid ${info.pid} (since ${info.startedAt})`,
    );
  }
}

export const daemonPidFile = (stateDir: string, role: DaemonRole) => join(stateDir, `${role}-daemon.pid`);

/** A live process whose command line is a porthole daemon of this role (not a recycled pid). */
function isDaemon(pid: number, role: DaemonRole): boolean {
  const argv = commandLine(pid);
  return !!argv?.includes(role) && argv.includes("run");
}

/** The daemon of this role running now, or null (no pid file, or its process is gone). */
export async function runningDaemon(stateDir: string, role: DaemonRole): Promise<DaemonInfo | null> {
  let info: DaemonInfo;
  try {
    info = JSON.parse(await readFile(daemonPidFile(stateDir, role), "utf8")) as DaemonInfo;
  } catch {
    return null;
  }
  return Number.isInteger(info.pid) && isDaemon(info.pid, role) ? info : null;
}

/**
 * Claims the pid file for this process, saying the `spec` file it runs on; throws DaemonRunning when
 * another live daemon holds it. A file left by a daemon that died is taken over. Returns the release
 * function (removes the file).
 */
export async function claimDaemon(
  stateDir: string,
  role: DaemonRole,
  spec: string,
): Promise<() => Promise<void>> {
  const file = daemonPidFile(stateDir, role);
  const mine: DaemonInfo = { pid: process.pid, startedAt: new Date().toISOString(), spec };
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(file, "wx", 0o644);
      await fh.writeFile(`${JSON.stringify(mine)}\n`);
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 3) throw e;
      const other = await runningDaemon(stateDir, role);
      if (other && other.pid !== process.pid) throw new DaemonRunning(role, other);
      await rm(file, { force: true });
    }
  }
  return async () => {
    const now = await runningDaemon(stateDir, role);
    if (now?.pid === process.pid || now === null) await rm(file, { force: true });
  };
}

/**
 * Stops the running daemon of this role (SIGTERM, then SIGKILL after `graceMs`) and waits until it is
 * gone. Returns its pid, or null when none was running.
 */
export async function stopDaemon(stateDir: string, role: DaemonRole, graceMs = 5000): Promise<number | null> {
  const info = await runningDaemon(stateDir, role);
  if (!info) return null;
  const gone = () => !isDaemon(info.pid, role);
  process.kill(info.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!gone()) {
    process.kill(info.pid, "SIGKILL");
    while (!gone()) await new Promise((r) => setTimeout(r, 50));
  }
  await rm(daemonPidFile(stateDir, role), { force: true });
  return info.pid;
}
