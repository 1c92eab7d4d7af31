// The lab's network world: the seed's internet, VPS, home router and Pi as namespaces on one machine.
//
//   peer 192.168.77.2 ── eth0 │ lan 192.168.77.1  home  wan 198.51.100.2 │ to-home 198.51.100.1 ─┐
//                                  (masquerade to wan)                                         client ("the internet",
//   hub  203.0.113.1  ── ens3 │ to-hub 203.0.113.2 (+ 203.0.113.3, a second client) ──────────┘  routes between both)
//
// Each host is a long-lived holder process (`sleep infinity`) with its own network, mount and UTS
// namespaces. Its mount namespace has a private tmpfs on /run/wireguard (wireguard-go's UAPI sockets live
// there, so two `wg0`s don't clash) and the host's own directories bind-mounted over /etc/porthole and
// /var/lib/porthole. Commands run in a host with `nsenter -t HOLDER -m -n -u`.
//
// Everything created is recorded in /run/porthole-lab/NAME.json before or right after it exists, so
// destroyWorld(NAME) cleans up from the record alone, even after the creator crashed.
import { spawn as spawnChild } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve, sep } from "node:path";
import { type RunOptions, type RunResult, run } from "../host/run.ts";
import { parseAddr } from "../net/ip.ts";
import {
  isRunning,
  nsId,
  type ProcIdentity,
  pidsInNetns,
  readCmdline,
  readStat,
  stillOurs,
  stopProcesses,
  waitFor,
} from "./procs.ts";
import {
  type HostRecord,
  LAB_BASE_DIR,
  LAB_HOSTS,
  type LabHost,
  readState,
  type SpawnRecord,
  stateFiles,
  statePathFor,
  type WorldState,
  writeState,
} from "./state.ts";

export { LAB_BASE_DIR, LAB_HOSTS, type LabHost } from "./state.ts";

/** The lab's fixed addresses (documentation ranges and a private LAN; nothing routes outside the lab). */
export const LAB = {
  /** The hub's public address, on its `ens3`. */
  hubPublic: "203.0.113.1",
  /** The client ("the internet") on the hub's link: the hub's default gateway. */
  client: "203.0.113.2",
  /** A second client address on the same link (curl --interface 203.0.113.3), for allow-list tests. */
  client2: "203.0.113.3",
  publicNet: "203.0.113.0/24",
  /** The client's side of the home router's uplink: home's default gateway. */
  clientToHome: "198.51.100.1",
  /** The home router's initial public (WAN) address; see changeHomeAddress. */
  homeWan: "198.51.100.2",
  homeWanNet: "198.51.100.0/24",
  homeLan: "192.168.77.1",
  lanNet: "192.168.77.0/24",
  /** The peer (the Pi) behind the home router's NAT. */
  peer: "192.168.77.2",
} as const;

/** Interface names inside each namespace (namespaced, so every lab can use the same ones). */
export const LAB_IFACES = {
  client: { toHub: "to-hub", toHome: "to-home" },
  hub: { public: "ens3" },
  home: { wan: "wan", lan: "lan" },
  peer: { lan: "eth0" },
} as const;

export interface WorldOptions {
  /** Namespace name prefix; namespaces are PREFIX-client, PREFIX-hub, PREFIX-home, PREFIX-peer. Default ph-NAME. */
  prefix?: string;
  /** Where state files and lab directories live. Default /run/porthole-lab. */
  baseDir?: string;
}

export interface ExecOptions extends RunOptions {
  /** Working directory inside the host (default: the caller's, which exists there too). */
  cwd?: string;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A short word for the log file name and listings (default: the program's name). */
  label?: string;
}

export interface Spawned {
  host: LabHost;
  pid: number;
  argv: string[];
  /** stdout and stderr of the process. */
  log: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,15}$/;
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const HOLDER_ARGV = ["sleep", "infinity"];
/** Directories on the machine that get a per-host mount; created empty if missing. */
const MOUNTPOINTS = {
  wireguard: "/run/wireguard",
  config: "/etc/porthole",
  state: "/var/lib/porthole",
  hosts: "/etc/hosts",
} as const;

/** A lab host's own /etc/hosts (the lab has no DNS server; names resolve through this file). */
const hostsFile = (rec: HostRecord) => join(rec.root, "etc/hosts");

export class World {
  readonly statePath: string;
  readonly baseDir: string;
  private state: WorldState;

  constructor(state: WorldState, statePath: string, baseDir: string) {
    this.state = state;
    this.statePath = statePath;
    this.baseDir = baseDir;
  }

  get name(): string {
    return this.state.name;
  }
  get prefix(): string {
    return this.state.prefix;
  }
  /** Directory with the hosts' roots and the logs of spawned processes. */
  get dir(): string {
    return this.state.dir;
  }
  /** The home router's current public address. */
  get homeWan(): string {
    return this.state.homeWan;
  }

  /** A copy of the record (what destroyWorld works from). */
  snapshot(): WorldState {
    return structuredClone(this.state);
  }

  netns(host: LabHost): string {
    return this.hostRecord(host).netns;
  }

  /**
   * Makes NAME resolve to ADDR on HOST (its own /etc/hosts, rewritten in place: the bind mount follows
   * the file's inode). What a DNS record change looks like to the programs on that host.
   */
  setHostsEntry(host: LabHost, name: string, addr: string): void {
    const file = hostsFile(this.hostRecord(host));
    const kept = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l && l.split(/\s+/)[1] !== name);
    writeFileSync(file, `${[...kept, `${addr}\t${name}`].join("\n")}\n`);
  }

  hostRecord(host: LabHost): HostRecord {
    const h = this.state.hosts[host];
    if (!h) throw new Error(`lab ${this.name} has no host ${host}`);
    return h;
  }

  /** PID of the process holding the host's namespaces. */
  holderPid(host: LabHost): number {
    const holder = this.hostRecord(host).holder;
    if (!holder) throw new Error(`lab ${this.name}: host ${host} has no holder process yet`);
    return holder.pid;
  }

  /**
   * Environment for porthole inside the host. The directories are the lab paths, which are the same
   * directories as /etc/porthole and /var/lib/porthole inside the host (bind mounts) and are also
   * readable from outside it, so paths in messages work from both sides.
   */
  env(host: LabHost): Record<string, string> {
    const h = this.hostRecord(host);
    return {
      PORTHOLE_ROOT: h.root,
      PORTHOLE_CONFIG_DIR: h.configDir,
      PORTHOLE_STATE_DIR: h.stateDir,
      PORTHOLE_LAB: this.name,
      PORTHOLE_LAB_HOST: host,
    };
  }

  /** The argv that runs `argv` inside the host (for exec, spawn, or printing as a hint to a person). */
  enterArgv(host: LabHost, argv: string[], cwd = process.cwd()): string[] {
    const holder = this.hostRecord(host).holder;
    if (!holder) throw new Error(`lab ${this.name}: host ${host} has no holder process yet`);
    if (!stillOurs(holder)) {
      throw new Error(
        `lab ${this.name}: host ${host} is gone (its holder process ${holder.pid} exited); destroy the lab and create it again`,
      );
    }
    return ["nsenter", "-t", String(holder.pid), "-m", "-n", "-u", `--wd=${cwd}`, "--", ...argv];
  }

  /** Runs a command inside the host (its network, mount and UTS namespaces) with the host's environment. */
  exec(host: LabHost, argv: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const { cwd, env, ...rest } = opts;
    return run(this.enterArgv(host, argv, cwd), {
      ...rest,
      env: { ...process.env, ...this.env(host), ...env },
    });
  }

  /**
   * Starts a long-running process inside the host, detached (it outlives the caller, like a daemon),
   * output to a log file under the lab directory. Its PID is recorded so destroyWorld stops it.
   */
  async spawn(host: LabHost, argv: string[], opts: SpawnOptions = {}): Promise<Spawned> {
    const full = this.enterArgv(host, argv, opts.cwd);
    const label = opts.label ?? basename(argv[0] ?? "proc");
    const logDir = join(this.dir, "logs");
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const log = join(logDir, `${host}-${label}-${Date.now().toString(36)}.log`);
    const rec = await spawnDetached(full, argv, log, { ...process.env, ...this.env(host), ...opts.env });
    const record: SpawnRecord = { ...rec, host, log, label };
    this.update((s) => {
      s.spawned.push(record);
    });
    return { host, pid: rec.pid, argv, log };
  }

  /** Processes started with spawn that are still running. */
  running(): Spawned[] {
    return this.state.spawned
      .filter((p) => stillOurs(p))
      .map((p) => ({ host: p.host, pid: p.pid, argv: p.argv, log: p.log }));
  }

  /** Stops a process started with spawn (SIGTERM, then SIGKILL) and forgets it. */
  async stop(pid: number): Promise<void> {
    const rec = this.state.spawned.find((p) => p.pid === pid);
    if (!rec) throw new Error(`lab ${this.name}: process ${pid} was not started by the lab`);
    await stopProcesses([pid], () => stillOurs(rec));
    this.update((s) => {
      s.spawned = s.spawned.filter((p) => !(p.pid === pid && p.starttime === rec.starttime));
    });
  }

  /** The tail of a spawned process's log (for error messages). */
  logTail(log: string, lines = 20): string {
    try {
      return readFileSync(log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Re-reads the state file (another process may have spawned something). */
  reload(): void {
    const s = readState(this.statePath);
    if (!s) throw new Error(`lab ${this.name} no longer exists (${this.statePath} is gone)`);
    this.state = s;
  }

  /** Read-modify-write of the state file, so records from other processes using this lab are kept. */
  update(fn: (s: WorldState) => void): void {
    const current = readState(this.statePath) ?? this.state;
    fn(current);
    writeState(this.statePath, current);
    this.state = current;
  }
}

/** Spawns a detached process (the one place the lab cannot use run(): it must not wait for the exit). */
async function spawnDetached(
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

// ---------------------------------------------------------------------------------------------------
// create

/** Builds the lab world NAME (see the diagram at the top). Throws, after cleaning up, if any step fails. */
export async function createWorld(name: string, opts: WorldOptions = {}): Promise<World> {
  if (!NAME_RE.test(name)) {
    throw new Error(`lab name ${JSON.stringify(name)}: use 1-16 lowercase letters, digits or '-'`);
  }
  const prefix = opts.prefix ?? `ph-${name}`;
  if (!PREFIX_RE.test(prefix))
    throw new Error(`lab namespace prefix ${JSON.stringify(prefix)} is not usable`);
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const statePath = statePathFor(baseDir, name);
  if (readState(statePath)) {
    throw new Error(`lab ${name} already exists (${statePath}); destroy it first`);
  }
  for (const host of LAB_HOSTS) {
    if (nsId(`/run/netns/${prefix}-${host}`)) {
      throw new Error(`network namespace ${prefix}-${host} already exists and is not part of a lab record`);
    }
  }
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  const dir = join(baseDir, name);
  const state: WorldState = {
    version: 1,
    name,
    prefix,
    dir,
    createdAt: new Date().toISOString(),
    creatorPid: process.pid,
    homeWan: LAB.homeWan,
    hosts: {},
    spawned: [],
  };
  writeState(statePath, state);
  const world = new World(state, statePath, baseDir);
  try {
    // Empty mountpoints on the machine if it has none yet (porthole's own directories are private: 0700).
    mkdirSync(MOUNTPOINTS.wireguard, { recursive: true, mode: 0o755 });
    mkdirSync(MOUNTPOINTS.config, { recursive: true, mode: 0o700 });
    mkdirSync(MOUNTPOINTS.state, { recursive: true, mode: 0o700 });
    for (const host of LAB_HOSTS) {
      const root = join(dir, host);
      const rec: HostRecord = {
        host,
        netns: `${prefix}-${host}`,
        root,
        configDir: join(root, "etc/porthole"),
        stateDir: join(root, "var/lib/porthole"),
      };
      world.update((s) => {
        s.hosts[host] = rec; // recorded before it exists: a crash right after `ip netns add` still cleans up
      });
      mkdirSync(rec.configDir, { recursive: true, mode: 0o700 });
      mkdirSync(rec.stateDir, { recursive: true, mode: 0o700 });
      await run(["ip", "netns", "add", rec.netns]);
      const id = nsId(`/run/netns/${rec.netns}`);
      world.update((s) => {
        const h = s.hosts[host];
        if (h && id) h.netnsId = id;
      });
    }
    await Promise.all(LAB_HOSTS.map((h) => startHolder(world, h)));
    await wire(world);
    return world;
  } catch (e) {
    try {
      await destroyWorld(name, { baseDir });
    } catch (cleanup) {
      throw new AggregateError([e, cleanup], `${(e as Error).message}\n(cleanup also failed: ${cleanup})`);
    }
    throw e;
  }
}

/** Starts the host's holder process and gives its mount namespace the per-host directories. */
async function startHolder(world: World, host: LabHost): Promise<void> {
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

/** Links, addresses, routes, forwarding and the home router's NAT. */
async function wire(world: World): Promise<void> {
  const ns = (h: LabHost) => world.netns(h);
  const batch = (h: LabHost, lines: string[]) =>
    run(["ip", "-n", ns(h), "-batch", "-"], { input: `${lines.join("\n")}\n` });
  const I = LAB_IFACES;
  await batch("client", [
    `link add ${I.client.toHub} type veth peer name ${I.hub.public} netns ${ns("hub")}`,
    `link add ${I.client.toHome} type veth peer name ${I.home.wan} netns ${ns("home")}`,
    `address add ${LAB.client}/24 dev ${I.client.toHub}`,
    `address add ${LAB.client2}/24 dev ${I.client.toHub}`,
    `address add ${LAB.clientToHome}/24 dev ${I.client.toHome}`,
    `link set ${I.client.toHub} up`,
    `link set ${I.client.toHome} up`,
  ]);
  await batch("home", [
    `link add ${I.home.lan} type veth peer name ${I.peer.lan} netns ${ns("peer")}`,
    `address add ${LAB.homeWan}/24 dev ${I.home.wan}`,
    `address add ${LAB.homeLan}/24 dev ${I.home.lan}`,
    `link set ${I.home.wan} up`,
    `link set ${I.home.lan} up`,
    `route add default via ${LAB.clientToHome} dev ${I.home.wan}`,
  ]);
  await Promise.all([
    batch("hub", [
      `address add ${LAB.hubPublic}/24 dev ${I.hub.public}`,
      `link set ${I.hub.public} up`,
      `route add default via ${LAB.client} dev ${I.hub.public}`,
    ]),
    batch("peer", [
      `address add ${LAB.peer}/24 dev ${I.peer.lan}`,
      `link set ${I.peer.lan} up`,
      `route add default via ${LAB.homeLan} dev ${I.peer.lan}`,
    ]),
    world.exec("client", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
    world.exec("home", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
    world.exec("home", ["nft", "-f", "/dev/stdin"], { input: homeNatRuleset() }),
  ]);
}

/** The home router's own table: masquerade the LAN out of the WAN, like any home router. */
export function homeNatRuleset(): string {
  return [
    "table ip lab_home_router",
    "delete table ip lab_home_router",
    "table ip lab_home_router {",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    oifname "${LAB_IFACES.home.wan}" ip saddr ${LAB.lanNet} masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// open, list, destroy

/** The lab NAME from its state file (for a later command: status, down), or undefined. */
export function openWorld(name: string, opts: Pick<WorldOptions, "baseDir"> = {}): World | undefined {
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const statePath = statePathFor(baseDir, name);
  const s = readState(statePath);
  return s ? new World(s, statePath, baseDir) : undefined;
}

export interface WorldSummary {
  name: string;
  prefix: string;
  dir: string;
  statePath: string;
  createdAt: string;
  creatorPid: number;
  homeWan: string;
  /** Hosts whose holder process is still running. */
  hostsUp: LabHost[];
  /** Hosts recorded but whose holder is gone (a crashed or half-destroyed lab). */
  hostsDown: LabHost[];
  spawned: { host: LabHost; pid: number; argv: string[]; running: boolean }[];
}

export function listWorlds(opts: Pick<WorldOptions, "baseDir"> = {}): WorldSummary[] {
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const out: WorldSummary[] = [];
  for (const file of stateFiles(baseDir)) {
    let s: WorldState | undefined;
    try {
      s = readState(file);
    } catch {
      continue;
    }
    if (!s) continue;
    const hosts = Object.values(s.hosts);
    out.push({
      name: s.name,
      prefix: s.prefix,
      dir: s.dir,
      statePath: file,
      createdAt: s.createdAt,
      creatorPid: s.creatorPid,
      homeWan: s.homeWan,
      hostsUp: hosts.filter((h) => h.holder && stillOurs(h.holder)).map((h) => h.host),
      hostsDown: hosts.filter((h) => !h.holder || !stillOurs(h.holder)).map((h) => h.host),
      spawned: s.spawned.map((p) => ({ host: p.host, pid: p.pid, argv: p.argv, running: stillOurs(p) })),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export interface DestroyReport {
  name: string;
  /** False when there was no record of this lab (nothing to do). */
  existed: boolean;
  /** PIDs that were signalled and are gone. */
  stopped: number[];
  namespacesDeleted: string[];
  /** Namespaces with the lab's names that were left alone because they are not the ones the lab made. */
  notOurs: string[];
}

/**
 * Removes everything the record of lab NAME lists: spawned processes (only if PID, start time and command
 * line still match), every process inside its network namespaces (wireguard-go daemons started by
 * porthole, shells…), the holders, the namespaces, stray mounts, its directory and the record itself.
 * Idempotent; parts that are already gone are fine. If something cannot be removed it throws after trying
 * everything else and keeps the record, so it can be run again.
 */
export async function destroyWorld(
  name: string,
  opts: Pick<WorldOptions, "baseDir"> = {},
): Promise<DestroyReport> {
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const statePath = statePathFor(baseDir, name);
  const report: DestroyReport = { name, existed: false, stopped: [], namespacesDeleted: [], notOurs: [] };
  const s = readState(statePath);
  if (!s) return report;
  report.existed = true;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };

  // 1. Processes the lab started, by recorded identity.
  await attempt("stopping spawned processes", async () => {
    const byPid = new Map(s.spawned.map((p) => [p.pid, p]));
    report.stopped.push(
      ...(await stopProcesses([...byPid.keys()], (pid) => stillOurs(byPid.get(pid) as ProcIdentity))),
    );
  });

  // 2. Whatever else lives in the lab's network namespaces (only while the namespace is provably the lab's).
  const hosts = Object.values(s.hosts);
  const ours = new Map<string, { dev: number; ino: number }>();
  for (const h of hosts) {
    const id = nsId(`/run/netns/${h.netns}`);
    if (!id) continue;
    if (h.netnsId && (h.netnsId.dev !== id.dev || h.netnsId.ino !== id.ino)) {
      report.notOurs.push(h.netns);
      continue;
    }
    if (!h.netnsId && !(h.holder && stillOurs(h.holder))) {
      // Created but never confirmed (crash between `ip netns add` and the record): ours by name only if
      // nothing else is using it.
      if (pidsInNetns(id).length > 0) {
        report.notOurs.push(h.netns);
        continue;
      }
    }
    ours.set(h.netns, id);
  }
  for (const [netns, id] of ours) {
    await attempt(`stopping processes in ${netns}`, async () => {
      const same = (pid: number) => {
        const p = nsId(`/proc/${pid}/ns/net`);
        return p !== undefined && p.dev === id.dev && p.ino === id.ino;
      };
      report.stopped.push(...(await stopProcesses(pidsInNetns(id), same)));
    });
  }

  // 3. Holders (also those whose namespace file is already gone).
  await attempt("stopping holders", async () => {
    const holders = hosts.flatMap((h) => (h.holder ? [h.holder] : []));
    const byPid = new Map(holders.map((p) => [p.pid, p]));
    report.stopped.push(
      ...(await stopProcesses([...byPid.keys()], (pid) => stillOurs(byPid.get(pid) as ProcIdentity))),
    );
  });

  // 4. Namespaces.
  for (const [netns] of ours) {
    await attempt(`deleting namespace ${netns}`, async () => {
      const r = await run(["ip", "netns", "delete", netns], { allowFail: true });
      if (r.code !== 0 && nsId(`/run/netns/${netns}`)) throw new Error(r.stderr.trim() || `exit ${r.code}`);
      report.namespacesDeleted.push(netns);
    });
  }

  // 5. Mounts: the per-host ones die with their mount namespaces; unmount anything of the lab's directory
  //    that shows up in the machine's own mount table (there should be none).
  const dir = resolve(s.dir);
  const inside = dir.startsWith(baseDir + sep);
  if (!inside) problems.push(`the record's directory ${dir} is outside ${baseDir}; not touching it`);
  await attempt("unmounting", async () => {
    for (const target of mountsUnder(dir).reverse()) {
      await run(["umount", "-l", target], { allowFail: true });
    }
  });

  // 6. Files, then the record (last, and only if all went well, so a retry still knows what to do).
  if (inside) await attempt(`removing ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  if (problems.length) {
    throw new Error(
      `lab ${name}: could not clean up everything (kept ${statePath}; run again):\n  ${problems.join("\n  ")}`,
    );
  }
  rmSync(statePath, { force: true });
  return report;
}

function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const unoctal = (p: string) =>
    p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return text
    .split("\n")
    .map((l) => unoctal(l.split(" ")[4] ?? ""))
    .filter((m) => m === dir || m.startsWith(dir + sep));
}

// ---------------------------------------------------------------------------------------------------
// things to do in a world

/**
 * Serves DIR over WebDAV from the peer, as the seed does (`rclone serve webdav --user U --pass P
 * --addr :PORT DIR`), and waits until it answers on 127.0.0.1:PORT inside the peer.
 */
export async function startWebdav(
  world: World,
  dir: string,
  user: string,
  pass: string,
  port = 8080,
): Promise<Spawned> {
  statSync(dir); // a clear ENOENT here rather than an rclone error in a log
  const p = await world.spawn(
    "peer",
    ["rclone", "serve", "webdav", "--user", user, "--pass", pass, "--addr", `:${port}`, resolve(dir)],
    { label: "webdav" },
  );
  try {
    await waitFor(
      `rclone to listen on port ${port} in the peer`,
      async () => {
        if (!isRunning(p.pid)) throw new Error(`rclone exited:\n${world.logTail(p.log)}`);
        const r = await world.exec(
          "peer",
          [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "1",
            `http://127.0.0.1:${port}/`,
          ],
          { allowFail: true },
        );
        return r.stdout.trim() !== "000" && r.stdout.trim() !== "" ? true : undefined;
      },
      15_000,
      100,
    );
  } catch (e) {
    await world.stop(p.pid).catch(() => {});
    throw e;
  }
  return p;
}

/**
 * Moves the home router's public address (e.g. 198.51.100.2 → 198.51.100.3), as an ISP handing out a new
 * IP would: the old address disappears, the default route is put back, and home's connection tracking is
 * flushed so existing NAT mappings die. The new address must be in 198.51.100.0/24 (the client's link).
 */
/**
 * Moves the hub to another public address on the client's link (203.0.113.4-254), as a VPS that gets a
 * new IP. Peers that reach it by name need the name to follow (setHostsEntry).
 */
export async function changeHubAddress(world: World, from: string, to: string): Promise<void> {
  const last = Number(to.split(".")[3]);
  if (parseAddr(to)?.family !== 4 || !to.startsWith("203.0.113.") || !(last >= 4 && last <= 254)) {
    throw new Error(`new hub address ${to}: expected 203.0.113.4-254 (.2 and .3 are the client's)`);
  }
  await run(["ip", "-n", world.netns("hub"), "-batch", "-"], {
    input: [
      `address del ${from}/24 dev ${LAB_IFACES.hub.public}`,
      `address add ${to}/24 dev ${LAB_IFACES.hub.public}`,
      `route replace default via ${LAB.client} dev ${LAB_IFACES.hub.public}`,
      "",
    ].join("\n"),
  });
  await run(["ip", "-n", world.netns("client"), "neigh", "flush", "dev", LAB_IFACES.client.toHub]);
}

export async function changeHomeAddress(world: World, newAddr: string): Promise<void> {
  const last = Number(newAddr.split(".")[3]);
  if (parseAddr(newAddr)?.family !== 4 || !newAddr.startsWith("198.51.100.") || !(last >= 2 && last <= 254)) {
    throw new Error(
      `new home address ${newAddr}: expected 198.51.100.2-254 (the client's link; .1 is the client)`,
    );
  }
  const old = world.homeWan;
  if (old === newAddr) return;
  const wan = LAB_IFACES.home.wan;
  await run(["ip", "-n", world.netns("home"), "-batch", "-"], {
    input: [
      `address del ${old}/24 dev ${wan}`,
      `address add ${newAddr}/24 dev ${wan}`,
      `route replace default via ${LAB.clientToHome} dev ${wan}`,
      "",
    ].join("\n"),
  });
  world.update((s) => {
    s.homeWan = newAddr;
  });
  // The client may still have the old address's neighbour entry; it would expire, but make it quick.
  await run(["ip", "-n", world.netns("client"), "neigh", "flush", "dev", LAB_IFACES.client.toHome]);
  await world.exec("home", ["conntrack", "-F"], { allowFail: true }).then((r) => {
    if (r.code !== 0 && !/0 flow entries/.test(r.stderr))
      throw new Error(`conntrack -F in home: ${r.stderr.trim()}`);
  });
}
