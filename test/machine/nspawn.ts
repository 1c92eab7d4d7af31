// A booted Debian machine for the machine tests: systemd as PID 1 under systemd-nspawn, in one of
// the lab's network namespaces, on its own copy-on-write layer over the cached root file system
// (scripts/machine-rootfs.sh), so a reboot keeps what was installed and configured.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type RunResult, run } from "../../src/host/run.ts";

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const commOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return ""; // gone already
  }
};

/** PIDs whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const ppidField = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
      if (Number(ppidField) === ppid) out.push(Number(d));
    } catch {}
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Machine {
  /** The running systemd-nspawn process, if any. */
  private proc: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  /** The container's PID 1 (systemd) as the host sees it. */
  leader = 0;
  boots = 0;

  /**
   * @param hostname the machine's name (also nspawn's machine name; nothing registers it)
   * @param root the merged overlay directory the machine boots from
   * @param netns the network namespace's path (/run/netns/NAME) the machine lives in
   * @param logDir where each boot's console output goes (NAME-boot-N.log)
   */
  constructor(
    readonly hostname: string,
    readonly root: string,
    readonly netns: string,
    readonly logDir: string,
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the machine; resolves once systemd reports the boot finished (running or degraded). */
  async boot(): Promise<void> {
    this.boots++;
    mkdirSync(this.logDir, { recursive: true });
    const log = openSync(join(this.logDir, `${this.hostname}-boot-${this.boots}.log`), "w");
    const argv = [
      "-b",
      "--register=no",
      "--keep-unit",
      "--quiet",
      "--console=passive",
      `--machine=${this.hostname}`,
      `--directory=${this.root}`,
      `--network-namespace-path=${this.netns}`,
      // wireguard-go's TUN device, and the network powers a VPS's root has.
      "--bind=/dev/net/tun",
      "--capability=CAP_NET_ADMIN",
    ];
    // A container sharing a namespace made elsewhere gets /proc/sys/net read-only unless told.
    const env = { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" };
    const proc = spawn("systemd-nspawn", argv, { stdio: ["ignore", log, log], env });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pid = proc.pid ? childrenOf(proc.pid)[0] : undefined;
      // nspawn's own helper child comes and goes first; the container's PID 1 is the one running systemd.
      if (pid && commOf(pid) === "systemd") {
        this.leader = pid;
        break;
      }
      if (proc.exitCode !== null)
        throw new Error(`${this.hostname}: systemd-nspawn exited (${proc.exitCode})`);
      if (Date.now() > deadline) throw new Error(`${this.hostname}: no systemd in the container after 60 s`);
      await sleep(20);
    }
    // systemd's bus comes up a moment after PID 1 starts; until then systemctl cannot ask.
    for (;;) {
      const r = await this.exec(["systemctl", "is-system-running", "--wait"], { allowFail: true });
      const state = r.stdout.trim();
      if (state === "running" || state === "degraded") return;
      if (Date.now() > deadline) throw new Error(`${this.hostname}: boot ended "${state}" ${r.stderr}`);
      await sleep(50);
    }
  }

  /** Runs a command inside the machine, as root in a login-like environment (PATH, HOME=/root). */
  exec(
    argv: string[],
    opts: { allowFail?: boolean; input?: string; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return run(
      [
        ...["nsenter", "-t", String(this.leader), "-a", "--"],
        ...["/usr/bin/env", "-i", "--chdir=/root", `PATH=${PATH}`, "HOME=/root", "LANG=C.UTF-8", ...argv],
      ],
      { timeoutMs: 120_000, ...opts },
    );
  }

  /**
   * `systemctl reboot` or `poweroff` inside; resolves when the container is gone (the nspawn
   * process exits: a reboot ends the container, the next boot() starts it from scratch).
   */
  async shutdown(how: "reboot" | "poweroff"): Promise<void> {
    await this.exec(["systemctl", "--no-block", how]);
    const code = await Promise.race([this.exited, sleep(90_000).then(() => "timeout" as const)]);
    if (code === "timeout") throw new Error(`${this.hostname}: still running 90 s after systemctl ${how}`);
    this.proc = null;
    this.leader = 0;
  }

  /** Ends the container however it can (cleanup): nspawn's SIGTERM is a clean poweroff, then SIGKILL. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const done = await Promise.race([this.exited.then(() => true), sleep(30_000).then(() => false)]);
    if (!done) {
      p.kill("SIGKILL");
      await this.exited;
    }
    this.proc = null;
  }
}
