// The lab's record of what it created, on disk from the first namespace on, so that `destroyWorld`
// (or `porthole lab down`) can clean up after a creator that crashed halfway.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NsId, ProcIdentity } from "./procs.ts";

export const LAB_BASE_DIR = "/run/porthole-lab";

export const LAB_HOSTS = ["client", "hub", "home", "peer"] as const;
export type LabHost = (typeof LAB_HOSTS)[number];

export interface HostRecord {
  host: LabHost;
  /** Network namespace name (a file in /run/netns). */
  netns: string;
  /** Identity of that namespace when it was made, so a same-named namespace made by someone else is left alone. */
  netnsId?: NsId;
  /** The long-lived process whose mount, UTS and network namespaces are "the host". */
  holder?: ProcIdentity;
  /** Per-host root for files porthole writes (PORTHOLE_ROOT): etc/porthole, var/lib/porthole, etc/sysctl.d… */
  root: string;
  /** Bind-mounted over /etc/porthole inside the host (PORTHOLE_CONFIG_DIR). */
  configDir: string;
  /** Bind-mounted over /var/lib/porthole inside the host (PORTHOLE_STATE_DIR). */
  stateDir: string;
}

export interface SpawnRecord extends ProcIdentity {
  host: LabHost;
  log: string;
  label?: string;
}

export interface WorldState {
  version: 1;
  name: string;
  prefix: string;
  /** Directory holding every file of this lab (host roots, logs). */
  dir: string;
  createdAt: string;
  creatorPid: number;
  /** Home router's current WAN (public) address. */
  homeWan: string;
  hosts: Partial<Record<LabHost, HostRecord>>;
  spawned: SpawnRecord[];
}

/** A lab host's own /etc/hosts (the lab has no DNS server; names resolve through this file). */
export const hostsFile = (rec: HostRecord) => join(rec.root, "etc/hosts");

export const statePathFor = (baseDir: string, name: string) => join(baseDir, `${name}.json`);

export function readState(path: string): WorldState | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const s = JSON.parse(text) as WorldState;
  if (s.version !== 1 || typeof s.name !== "string")
    throw new Error(`${path} is not a porthole lab state file`);
  return s;
}

/** Atomic replace (temp file + rename): a crash leaves the old record or the new one, never half. */
export function writeState(path: string, state: WorldState): void {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function stateFiles(baseDir: string): string[] {
  try {
    return readdirSync(baseDir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => join(baseDir, f));
  } catch {
    return [];
  }
}
