// `porthole status`: like `wg`, but about the service — who is online, what is forwarded, and
// whether it works right now.
import { expandTargets } from "../compile/targets.ts";
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

export async function hubStatus(spec: Spec, nowS: number, probe = true): Promise<HubStatus> {
  const { hub } = spec;
  const wg = await wgPeerStats(hub.interface);
  const byKey = new Map((wg ?? []).map((p) => [p.publicKey, p]));
  const peers: PeerStatus[] = spec.peers.map((p) => {
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

  const families = hub.address6 ? [4, 6] : [4];
  const dnat = (await Promise.all(families.map((f) => nftElementCounters("map", `dnat${f}`)))).flat();
  const traffic = (await Promise.all(families.map((f) => nftElementCounters("set", `traffic${f}`)))).flat();
  const conns = await dnatConnections();
  const targets = expandTargets(spec);
  const forwards: ForwardStatus[] = [];
  for (const f of spec.forwards) {
    const mine = targets.filter((t) => t.forward === f.name);
    const ports = new Set(mine.map((t) => `${t.proto}/${t.port}`));
    const dests = new Set(mine.map((t) => `${t.proto}/${t.addr}/${t.targetPort}`));
    const sum = (xs: { packets: number; bytes: number }[]) =>
      xs.reduce((a, x) => ({ packets: a.packets + x.packets, bytes: a.bytes + x.bytes }), {
        packets: 0,
        bytes: 0,
      });
    const opened = sum(dnat.filter((c) => ports.has(`${c.key[0]}/${c.key[1]}`)));
    const moved = sum(traffic.filter((c) => dests.has(`${c.key[1]}/${c.key[0]}/${c.key[2]}`)));
    const active = conns.filter(
      (c) => ports.has(`${c.proto}/${c.origDport}`) && dests.has(`${c.proto}/${c.replySrc}/${c.replySport}`),
    );
    const first = mine.find((t) => t.proto === "tcp" && t.family === 4);
    forwards.push({
      name: f.name,
      peer: f.peer,
      summary: describeForward(f),
      mode: f.mode,
      connectionsTotal: opened.packets,
      packets: moved.packets,
      bytes: moved.bytes,
      activeConnections: active.length,
      reachable: first && probe ? await tcpReachable(first.addr, first.targetPort) : null,
    });
  }
  return {
    hub: {
      name: hub.name,
      interface: hub.interface,
      listenPort: hub.listenPort,
      address: formatAddr(hub.address),
      up: wg !== null,
    },
    peers,
    forwards,
  };
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
