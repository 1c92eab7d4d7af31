// A lab world: the handle on one lab's record (state.ts) and its hosts — run a command inside a host,
// start a detached process there and stop it again, point a name at an address — plus finding the labs
// that exist. Building one is create.ts (topology.ts, holder.ts); removing one is teardown.ts.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { type RunOptions, type RunResult, run } from "../host/run.ts";
import { spawnDetached, stillOurs, stopProcesses } from "./procs.ts";
import {
  type HostRecord,
  hostsFile,
  LAB_BASE_DIR,
  type LabHost,
  readState,
  type SpawnRecord,
  stateFiles,
  statePathFor,
  type WorldState,
  writeState,
} from "./state.ts";

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

  /**
   * A directory of the lab holding `porthole`, a script that runs `argv` (e.g. [process.execPath,
   * "/src/porthole/bin/porthole.js"]): `lab exec` and `lab shell` put it first on PATH, so `porthole`
   * inside a lab host is the build that runs the lab, not whichever (if any) is installed.
   */
  portholeBinDir(argv: string[]): string {
    const dir = join(this.dir, "bin");
    mkdirSync(dir, { recursive: true });
    const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    const tmp = join(dir, `.porthole.${process.pid}`);
    writeFileSync(tmp, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
    renameSync(tmp, join(dir, "porthole")); // atomic: another exec may be running the old one
    return dir;
  }

  /** The argv that runs `argv` inside the host (for exec, spawn, or printing as a hint to a person). */
  enterArgv(host: LabHost, argv: string[], cwd = process.cwd()): string[] {
    const holder = this.hostRecord(host).holder;
    if (!holder) throw new Error(`lab ${this.name}: host ${host} has no holder process yet`);
    if (!stillOurs(holder)) {
      throw new Error(
        `lab ${this.name}: host ${host} is gone (its holder process ${holder.pid} exited): \`porthole lab down --name ${this.name}\`, then \`porthole lab up --name ${this.name}\` again`,
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
