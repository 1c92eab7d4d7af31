// The status as data and as text: what `porthole status`, the API and /metrics show. Pure: the
// probing that fills it in lives in status.ts.
import { expandTargets } from "../compile/targets.ts";
import { describeFinding, droppedBy, where } from "../foreign/findings.ts";
import type { FirewallFinding, ForwardStatus, HubStatus } from "../protocol/status.ts";
import { describeForward } from "../reconcile/summary.ts";
import type { Spec } from "../spec/types.ts";

// The status types are part of the wire contract (the API answers them): they live in src/protocol.
export type { ForwardStatus, HubStatus, PeerStatus } from "../protocol/status.ts";

export interface Count {
  packets: number;
  bytes: number;
}

/** What the kernel counted, keyed by public port ("tcp . 80") and, for open connections, by target. */
export interface ForwardCounters {
  /** New connections per public port. */
  opened: Map<string, number>;
  /** Packets and bytes per public port; null when the backend does not count them. */
  traffic: Map<string, Count> | null;
  /** Open connections by "proto/public port/target address/target port"; null when unknown. */
  open: Map<string, number> | null;
}

/**
 * Each forward's numbers: the sums over its own public ports (a public port belongs to one forward,
 * so forwards that share a target never see each other's traffic). Linear in forwards and ports.
 */
export function forwardStatuses(spec: Spec, c: ForwardCounters): ForwardStatus[] {
  const targetsOf = new Map<string, ReturnType<typeof expandTargets>>();
  for (const t of expandTargets(spec)) {
    const list = targetsOf.get(t.forward);
    if (list) list.push(t);
    else targetsOf.set(t.forward, [t]);
  }
  return spec.forwards.map((f) => {
    const mine = targetsOf.get(f.name) ?? [];
    const ports = new Set(mine.map((t) => `${t.proto} . ${t.port}`));
    let opened = 0;
    let packets = 0;
    let bytes = 0;
    for (const p of ports) {
      opened += c.opened.get(p) ?? 0;
      packets += c.traffic?.get(p)?.packets ?? 0;
      bytes += c.traffic?.get(p)?.bytes ?? 0;
    }
    let open = 0;
    for (const t of mine) open += c.open?.get(`${t.proto}/${t.port}/${t.addr}/${t.targetPort}`) ?? 0;
    return {
      name: f.name,
      peer: f.peer,
      summary: describeForward(f),
      mode: f.mode,
      connectionsTotal: opened,
      packets: c.traffic ? packets : null,
      bytes: c.traffic ? bytes : null,
      establishedConnections: c.open ? open : null,
      reachable: null,
      blockedBy: [],
      working: null,
    };
  });
}

/** The forwards with what blocks each on the hub, and whether each works as far as the hub can tell. */
export function withFindings(forwards: ForwardStatus[], firewall: FirewallFinding[]): ForwardStatus[] {
  return forwards.map((f) => {
    const mine = firewall.filter((x) => x.path === "forward" && x.forwards.includes(f.name));
    const blockedBy = mine.map((x) => `${where(x)} (${droppedBy(x)})${x.certain ? "" : ", maybe"}`);
    const working =
      mine.some((x) => x.certain) || f.reachable === false
        ? false
        : mine.length || f.reachable === null
          ? null
          : true;
    return { ...f, blockedBy, working };
  });
}

/** "yes (…)" only when the target answers and nothing on the hub drops the forward; else what is wrong. */
function workingText(f: ForwardStatus): string {
  const blocked = f.blockedBy?.join("; ");
  if (f.working === false && blocked) return `NO, blocked on the hub by ${blocked} (fix below)`;
  if (f.working === false) return "NO, the target does not answer from the hub (tunnel or service down)";
  if (blocked) return `unknown, ${blocked} may drop it (see below)`;
  if (f.reachable === null) return "not probed (udp); no firewall on the hub drops it";
  return "yes (the target answers from the hub; no firewall on the hub drops it)";
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
    `hub: ${s.hub.name} (${s.hub.address}, ${s.hub.interface} ${s.hub.up ? `up, listening on udp/${s.hub.listenPort}` : "DOWN: not listening"})`,
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
    const reach = workingText(f);
    const open = f.establishedConnections === null ? "unknown" : String(f.establishedConnections);
    const traffic =
      f.packets === null || f.bytes === null
        ? "not counted (iptables backend)"
        : `${f.packets} packets, ${bytes(f.bytes)}`;
    out.push(
      `  ${f.summary}`,
      `    connections: ${open} established, ${f.connectionsTotal} total; traffic: ${traffic}; working: ${reach}`,
    );
  }
  if (!s.forwards.length) out.push("  (none yet: porthole expose PORT --to PORT, on a peer)");
  if (s.firewall?.length) {
    out.push("", "firewall on the hub (rules porthole does not own):");
    for (const x of s.firewall) out.push(`  ${describeFinding(x)}`, ...x.fix.map((l) => `    fix: ${l}`));
  }
  return out.join("\n");
}

/** A peer set up with `porthole apply` (no agent, no hub API): what it can see of itself. */
export interface LocalPeerStatus {
  name: string;
  address: string;
  interface: string;
  up: boolean;
  hub: { online: boolean; handshakeAgeSeconds: number | null; endpoint: string | null };
  forwards: string[];
}

export function renderLocalPeerStatus(s: LocalPeerStatus): string {
  return [
    `peer ${s.name} (${s.address}, ${s.interface} ${s.up ? "up" : "DOWN"}; set up with porthole apply, not joined)`,
    "",
    `hub: ${s.hub.online ? "online" : "offline"}`,
    `  latest handshake: ${ago(s.hub.handshakeAgeSeconds)}; endpoint: ${s.hub.endpoint ?? "none"}`,
    "",
    "forwards to this peer (from the spec; counters are on the hub):",
    ...(s.forwards.length ? s.forwards.map((f) => `  ${f}`) : ["  (none)"]),
  ].join("\n");
}
