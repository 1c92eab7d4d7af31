// A lab host's holder: a long-lived process (`sleep infinity`) whose network, mount and UTS namespaces are
// "the host". Its mount namespace has a private tmpfs on /run/wireguard (wireguard-go's UAPI sockets live
// there, so two `wg0`s don't clash) and the host's own directories bind-mounted over /etc/porthole,
// /var/lib/porthole and /etc/hosts. Commands run in a host with `nsenter -t HOLDER -m -n -u`.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../host/run.ts";
import { isRunning, nsId, readCmdline, spawnDetached, waitFor } from "./procs.ts";
import { hostsFile, type LabHost } from "./state.ts";
import type { World } from "./world.ts";

const HOLDER_ARGV = ["sleep", "infinity"];
/** Directories on the machine that get a per-host mount; created empty if missing. */
const MOUNTPOINTS = {
  wireguard: "/run/wireguard",
  config: "/etc/porthole",
  state: "/var/lib/porthole",
  hosts: "/etc/hosts",
} as const;

/** Empty mountpoints on the machine if it has none yet (porthole's own directories are private: 0700). */
export function makeMountpoints(): void {
  mkdirSync(MOUNTPOINTS.wireguard, { recursive: true, mode: 0o755 });
  mkdirSync(MOUNTPOINTS.config, { recursive: true, mode: 0o700 });
  mkdirSync(MOUNTPOINTS.state, { recursive: true, mode: 0o700 });
}

/** Starts the host's holder process and gives its mount namespace the per-host directories. */
export async function startHolder(world: World, host: LabHost): Promise<void> {
  const rec = world.hostRecord(host);
  // `ip netns exec` makes a mount namespace with /sys for this netns, then unshare makes a private copy
  // (nothing mounted there leaks back to the machine) plus a UTS namespace; both exec, so the PID is sleep's.
  const full = [
    "ip",
    "netns",
    "exec",
    rec.netns,
    "unshare",
    "--mount",
    "--uts",
    "--propagation",
    "private",
    "--",
    ...HOLDER_ARGV,
  ];
  const logDir = join(world.dir, "logs");
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const holder = await spawnDetached(full, HOLDER_ARGV, join(logDir, `${host}-holder.log`), process.env);
  world.update((s) => {
    const h = s.hosts[host];
    if (h) h.holder = holder;
  });
  const ownMnt = nsId("/proc/self/ns/mnt");
  await waitFor(`the ${host} holder (pid ${holder.pid}) to enter its namespaces`, () => {
    if (!isRunning(holder.pid))
      throw new Error(`the ${host} holder exited: ${world.logTail(join(logDir, `${host}-holder.log`))}`);
    const cmd = readCmdline(holder.pid);
    const mnt = nsId(`/proc/${holder.pid}/ns/mnt`);
    return cmd?.join(" ") === HOLDER_ARGV.join(" ") && mnt !== undefined && mnt.ino !== ownMnt?.ino;
  });
  const inMnt = (argv: string[]) => run(["nsenter", "-t", String(holder.pid), "-m", "--", ...argv]);
  await inMnt([
    "mount",
    "-t",
    "tmpfs",
    "-o",
    "mode=0755,size=4m",
    `porthole-lab-${world.name}`,
    MOUNTPOINTS.wireguard,
  ]);
  await inMnt(["mount", "--bind", rec.configDir, MOUNTPOINTS.config]);
  await inMnt(["mount", "--bind", rec.stateDir, MOUNTPOINTS.state]);
  writeFileSync(
    hostsFile(rec),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${host}\n`,
  );
  await inMnt(["mount", "--bind", hostsFile(rec), MOUNTPOINTS.hosts]);
  await run(["nsenter", "-t", String(holder.pid), "-u", "--", "hostname", host]);
  await run(["nsenter", "-t", String(holder.pid), "-n", "--", "ip", "link", "set", "lo", "up"]);
}
