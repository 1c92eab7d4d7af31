// `porthole status`: like `wg`, but about the service — who is online, what is forwarded, and
// whether it works right now.
import { expandTargets, type Target } from "../compile/targets.ts";
import { dnatConnections, nftElementCounters, tcpReachable, wgPeerStats } from "../host/stats.ts";
import { formatAddr } from "../net/ip.ts";
import { describeForward } from "../reconcile/summary.ts";
import type { Spec } from "../spec/types.ts";

/** A peer that has not completed a handshake for this long is offline (WireGuard rekeys every 2 min). */
export const ONLINE_WITHIN_S = 180;

export interface PeerStatus {
  name: string;
  address: string;
  online: boolean;
  handshakeAgeSeconds: number | null;
  endpoint: string | null;
  rxBytes: number;
  txBytes: number;
  admin: boolean;
  kind: string;
}

export interface ForwardStatus {
  name: string;
  peer: string;
  summary: string;
  mode: string;
  connectionsTotal: number;
  packets: number;
  bytes: number;
  activeConnections: number;
  /** TCP connect from the hub to the target succeeds (null: UDP, not probed). */
  reachable: boolean | null;
}

export interface HubStatus {
  hub: { name: string; interface: string; listenPort: number; address: string; up: boolean };
  peers: PeerStatus[];
  forwards: ForwardStatus[];
}

/** The peers' side of the status (the daemon asks every 2 s who is online: no forwards needed). */
export async function peerStatus(spec: Spec, nowS: number): Promise<{ up: boolean; peers: PeerStatus[] }> {
  const wg = await wgPeerStats(spec.hub.interface);
  const byKey = new Map((wg ?? []).map((p) => [p.publicKey, p]));
  const peers = spec.peers.map((p) => {
    const s = byKey.get(p.publicKey);
    const age = s?.latestHandshake ? Math.max(0, nowS - s.latestHandshake) : null;
    return {
      name: p.name,
      address: formatAddr(p.address),
      online: age !== null && age < ONLINE_WITHIN_S,
      handshakeAgeSeconds: age,
      endpoint: s?.endpoint ?? null,
      rxBytes: s?.rxBytes ?? 0,
      txBytes: s?.txBytes ?? 0,
      admin: p.admin,
      kind: p.kind,
    };
  });
  return { up: wg !== null, peers };
}

/** Sums of counters by key: each forward looks its ports and targets up (linear in forwards). */
function sumsBy<T extends Counts>(xs: T[], key: (x: T) => string): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const x of xs) {
    const k = key(x);
    const a = out.get(k) ?? { packets: 0, bytes: 0 };
    out.set(k, { packets: a.packets + x.packets, bytes: a.bytes + x.bytes });
  }
  return out;
}

type Counts = { packets: number; bytes: number };

/** The counts of these keys together. */
function total(keys: Iterable<string>, sums: Map<string, Counts>): Counts {
  let packets = 0;
  let bytes = 0;
  for (const k of keys) {
    packets += sums.get(k)?.packets ?? 0;
    bytes += sums.get(k)?.bytes ?? 0;
  }
  return { packets, bytes };
}

/** Probes at most this many targets at once (each is a TCP connect with a 1 s timeout). */
const PROBES_AT_ONCE = 64;

export async function hubStatus(spec: Spec, nowS: number, probe = true): Promise<HubStatus> {
  const { hub } = spec;
  const families = hub.address6 ? [4, 6] : [4];
  const [{ up, peers }, dnat, traffic, conns] = await Promise.all([
    peerStatus(spec, nowS),
    Promise.all(families.map((f) => nftElementCounters("map", `dnat${f}`))).then((x) => x.flat()),
    Promise.all(families.map((f) => nftElementCounters("set", `traffic${f}`))).then((x) => x.flat()),
    dnatConnections(),
  ]);
  const opened = sumsBy(dnat, (c) => `${c.key[0]}/${c.key[1]}`);
  const moved = sumsBy(traffic, (c) => `${c.key[1]}/${c.key[0]}/${c.key[2]}`);
  const connsByPort = groupBy(conns, (c) => `${c.proto}/${c.origDport}`);
  const targetsOf = groupBy(expandTargets(spec), (t) => t.forward);
  const forwards: ForwardStatus[] = spec.forwards.map((f) => {
    const mine = targetsOf.get(f.name) ?? [];
    const ports = [...new Set(mine.map((t) => `${t.proto}/${t.port}`))];
    const dests = new Set(mine.map((t) => `${t.proto}/${t.addr}/${t.targetPort}`));
    const traffic = total(dests, moved);
    const active = ports
      .flatMap((p) => connsByPort.get(p) ?? [])
      .filter((c) => dests.has(`${c.proto}/${c.replySrc}/${c.replySport}`));
    return {
      name: f.name,
      peer: f.peer,
      summary: describeForward(f),
      mode: f.mode,
      connectionsTotal: total(ports, opened).packets,
      packets: traffic.packets,
      bytes: traffic.bytes,
      activeConnections: active.length,
      reachable: null,
    };
  });
  if (probe) {
    const firsts = spec.forwards.map((f) =>
      targetsOf.get(f.name)?.find((t) => t.proto === "tcp" && t.family === 4),
    );
    for (const [i, ok] of (await probeTargets(firsts)).entries())
      (forwards[i] as ForwardStatus).reachable = ok;
  }
  return {
    hub: {
      name: hub.name,
      interface: hub.interface,
      listenPort: hub.listenPort,
      address: formatAddr(hub.address),
      up,
    },
    peers,
    forwards,
  };
}

/** Whether each target answers a TCP connect from the hub: a few at a time, each address:port once. */
async function probeTargets(targets: (Target | undefined)[]): Promise<(boolean | null)[]> {
  const key = (t: Target) => `${t.addr}:${t.targetPort}`;
  const unique = [...new Map(targets.flatMap((t) => (t ? [[key(t), t] as const] : []))).values()];
  const answers = new Map<string, boolean>();
  let next = 0;
  const worker = async () => {
    for (let t = unique[next++]; t; t = unique[next++])
      answers.set(key(t), await tcpReachable(t.addr, t.targetPort));
  };
  await Promise.all(Array.from({ length: Math.min(PROBES_AT_ONCE, unique.length) }, worker));
  return targets.map((t) => (t ? (answers.get(key(t)) ?? null) : null));
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = out.get(k);
    if (list) list.push(x);
    else out.set(k, [x]);
  }
  return out;
}

const bytes = (n: number) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(2) : v} ${units[i]}`;
};

const ago = (s: number | null) =>
  s === null ? "never" : s < 120 ? `${s} seconds ago` : `${Math.round(s / 60)} minutes ago`;

export function renderStatus(s: HubStatus): string {
  const out = [
    `hub: ${s.hub.name} (${s.hub.address}, ${s.hub.interface} ${s.hub.up ? "up" : "DOWN"}, listening on udp/${s.hub.listenPort})`,
    "",
    "peers:",
  ];
  for (const p of s.peers) {
    out.push(
      `  ${p.name} ${p.address}: ${p.online ? "online" : "offline"}${p.admin ? " (admin)" : ""}${p.kind === "device" ? " (device)" : ""}`,
      `    latest handshake: ${ago(p.handshakeAgeSeconds)}; endpoint: ${p.endpoint ?? "none"}; transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`,
    );
  }
  if (!s.peers.length) out.push("  (none yet: porthole peer add NAME)");
  out.push("", "forwards:");
  for (const f of s.forwards) {
    const reach = f.reachable === null ? "not probed (udp)" : f.reachable ? "yes" : "NO";
    out.push(
      `  ${f.summary}`,
      `    connections: ${f.activeConnections} open, ${f.connectionsTotal} total; traffic: ${f.packets} packets, ${bytes(f.bytes)}; target reachable from hub: ${reach}`,
    );
  }
  if (!s.forwards.length) out.push("  (none yet: porthole expose PORT --to PORT, on a peer)");
  return out.join("\n");
}
