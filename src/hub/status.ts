// `porthole status`: like `wg`, but about the service — who is online, what is forwarded, and
// whether it works right now.
import { analyze, foreignRulesets, hubProbes } from "../foreign/findings.ts";
import type { ConnectResult, Count, Host } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import type { Target } from "../plan/plan.ts";
import type { ForwardStatus, HubStatus, LocalPeerStatus, PeerStatus } from "../protocol/status.ts";
import { describeForward } from "../reconcile/summary.ts";
import { endpointText } from "../spec/endpoint.ts";
import type { Spec } from "../spec/types.ts";
import type { Counted } from "./census.ts";
import {
  type ForwardCounters,
  type ForwardNumbers,
  forwardNumbers,
  statusesOf,
  withFindings,
} from "./forward-status.ts";
import { PROBE_TIMEOUT_MS, ProbeCache, type ProbeSource, targetKey } from "./probe-cache.ts";
import type { RxHistory } from "./rx-history.ts";

/** A peer that has not completed a handshake for this long is offline (WireGuard rekeys every 2 min). */
export const ONLINE_WITHIN_S = 180;

/**
 * A peer set up with `porthole apply`: its interface and its handshake with the hub, from `wg`
 * (`nowS`: Unix seconds).
 */
export async function localPeerStatus(
  host: Host,
  spec: Spec,
  name: string,
  nowS: number,
): Promise<LocalPeerStatus> {
  const me = spec.peers.find((p) => p.name === name);
  const wg = await host.stats.wgPeers(spec.hub.interface);
  const hub = wg?.find((p) => p.publicKey === spec.hub.publicKey);
  const age = hub?.latestHandshake ? Math.max(0, nowS - hub.latestHandshake) : null;
  return {
    name,
    address: me ? formatAddr(me.address) : "?",
    interface: spec.hub.interface,
    up: wg !== null,
    hub: {
      // The interface down: its handshakes cannot be read, which says nothing about the hub.
      online: wg === null ? null : age !== null && age < ONLINE_WITHIN_S,
      handshakeAgeSeconds: age,
      endpoint: hub?.endpoint ?? null,
    },
    forwards: spec.forwards.filter((f) => f.peer === name).map(describeForward),
  };
}

/**
 * The peers' side of the status (the daemon asks every 2 s who is online: no forwards needed); `nowS`:
 * Unix seconds, against which handshake ages are measured. `rx`: the hub's record of each peer's
 * received bytes, fed here at `nowMs` (the hub's clock, ms) and read for `receivedSecondsAgo`;
 * absent: that is null (a one-shot reader, like `porthole doctor`, cannot tell). The interface down
 * (`up` false): each peer's `online`, `rxBytes` and `txBytes` are null (not read, so not known); a
 * peer not on the interface has null bytes (offline: it has no tunnel).
 */
export async function peerStatus(
  host: Host,
  spec: Spec,
  nowS: number,
  rx?: RxHistory,
  nowMs = nowS * 1000,
): Promise<{ up: boolean; peers: PeerStatus[] }> {
  const wg = await host.stats.wgPeers(spec.hub.interface);
  const byKey = new Map((wg ?? []).map((p) => [p.publicKey, p]));
  rx?.keepOnly(spec.peers.flatMap((p) => (byKey.has(p.publicKey) ? [p.publicKey] : [])));
  const peers = spec.peers.map((p) => {
    const s = byKey.get(p.publicKey);
    const age = s?.latestHandshake ? Math.max(0, nowS - s.latestHandshake) : null;
    const received = s && rx ? rx.observe(p.publicKey, s.rxBytes, nowMs) : null;
    return {
      name: p.name,
      address: formatAddr(p.address),
      // The interface down: nothing of the peer can be read (unknown, not "offline, 0 bytes").
      online: wg === null ? null : age !== null && age < ONLINE_WITHIN_S,
      handshakeAgeSeconds: age,
      receivedSecondsAgo: received,
      keepalive: p.keepalive,
      endpoint: s?.endpoint ?? null,
      // Not on the interface (a spec not applied yet): nothing counted, unknown rather than 0 bytes.
      rxBytes: s ? s.rxBytes : null,
      txBytes: s ? s.txBytes : null,
      admin: p.admin,
      kind: p.kind,
    };
  });
  return { up: wg !== null, peers };
}

/** `doctor` probes at most this many targets at once (each is a TCP connect with a 1 s timeout). */
const PROBES_AT_ONCE = 64;

/**
 * The hub's status now: peers from `wg`, forwards' counters from the firewall and conntrack, other
 * owners' rules that drop them; `probes`: TCP-connect each forward's first IPv4 TCP target through
 * the cache (what was probed lately is reported with its age: see hub/probe-cache.ts), or its last
 * results alone (/metrics: ProbeCache.last); null: no probes (reachable and probeOutcome null). `targets`: the forwards as the hub's plan expanded them (HostPlan.targets); `nowS`:
 * Unix seconds; `nowMs`: the probe cache's and `rx`'s clock; `rx`: see peerStatus. `counted`: the
 * forwards' numbers as a census counted them (hub/census.ts; `atMs` on the `nowMs` clock), reported
 * with that time; absent: counted now.
 */
export async function hubStatus(
  host: Host,
  spec: Spec,
  targets: Target[],
  nowS: number,
  probes: ProbeSource | null,
  nowMs = nowS * 1000,
  rx?: RxHistory,
  counted?: Promise<Pick<Counted<ForwardNumbers>, "value" | "atMs">>,
): Promise<HubStatus> {
  const { hub } = spec;
  const list = probeList(spec, targets);
  const probing = probes?.check(list.targets);
  const [{ up, peers }, count, foreign] = await Promise.all([
    peerStatus(host, spec, nowS, rx, nowMs),
    counted ?? countForwards(host, spec, targets).then((value) => ({ value, atMs: nowMs })),
    host.firewall.observeForeign(),
  ]);
  const rulesets = foreignRulesets(foreign);
  const hooked = rulesets.some((rs) => Object.values(rs.chains).some((c) => c.hook));
  const firewall = analyze(rulesets, hooked ? hubProbes(spec, targets) : [], {
    wgInterface: hub.interface,
    listenPort: hub.listenPort,
    apiPort: hub.apiPort,
    ownFlavour: hub.firewall === "iptables" ? foreign.iptables : null,
  });
  const forwards = statusesOf(spec, count.value);
  const probed = await probing;
  for (const [i, key] of list.keys.entries()) {
    if (!key) continue;
    const f = forwards[i] as ForwardStatus;
    f.probeTarget = key;
    const p = probed?.get(key);
    if (!p) continue;
    f.reachable = reachableOf(p);
    f.probeOutcome = p.outcome;
    if (p.error && (p.outcome === "unreachable" || p.outcome === "error")) f.probeError = p.error;
    f.probeAgeSeconds = Math.max(0, Math.floor((nowMs - p.atMs) / 1000));
  }
  return {
    hub: {
      name: hub.name,
      interface: hub.interface,
      listenPort: hub.listenPort,
      address: formatAddr(hub.address),
      endpoint: endpointText(hub.endpoint),
      up,
    },
    peers,
    forwards: withFindings(forwards, firewall),
    firewall,
    countedAt: new Date(count.atMs).toISOString(),
    // 0 only for numbers counted by this status: a count kept from before it is at least a second old in
    // words ("counted now" said of a count 0.9 s old, before the request that was just made).
    countedSecondsAgo: Math.max(0, Math.ceil((nowMs - count.atMs) / 1000)),
  };
}

/**
 * Each forward's numbers (in `spec.forwards` order) from the kernel's counters read now
 * (forwardCounters): what the census keeps.
 */
export async function countForwards(host: Host, spec: Spec, targets: Target[]): Promise<ForwardNumbers> {
  // No forwards, nothing to count: the daemon's watch would walk conntrack's table for nothing.
  if (!spec.forwards.length) return { opened: new Float64Array(0), packets: null, bytes: null, open: null };
  return forwardNumbers(spec, targets, await forwardCounters(host, spec));
}

/**
 * The kernel's counters for the forwards. nftables counts per public port in its sets (opened_*:
 * new connections, traffic_*: packets and bytes, both families in one element); the
 * iptables backend counts new connections in its DNAT rules and no traffic (a per-forward rule would
 * cost every packet a walk through all of them).
 */
export async function forwardCounters(host: Host, spec: Spec): Promise<ForwardCounters> {
  const families: (4 | 6)[] = spec.hub.address6 ? [4, 6] : [4];
  const protos = [...new Set(spec.forwards.flatMap((f) => f.protos))];
  const nft = spec.hub.firewall === "nftables";
  // nft's sets are keyed by port alone, one per protocol: "80" in opened_tcp becomes "tcp . 80". A
  // protocol no forward uses has empty sets: not listed (each listing is an nft process).
  const counted = COUNTED.filter((p) => protos.includes(p));
  // A set or chain that is not there (porthole down, its rules never loaded) counted nothing: null.
  const byPort = async (name: string) => {
    const lists = await Promise.all(counted.map((p) => host.stats.nftElements("set", `${name}_${p}`)));
    if (lists.some((l) => l === null)) return null;
    const out = new Map<string, Count>();
    for (const [i, list] of lists.entries())
      for (const c of list ?? []) out.set(`${counted[i]} . ${c.key}`, c);
    return out;
  };
  // iptables: IPv4's and IPv6's DNAT rules count the same public port apart; a forward has both.
  const dnat = async () => {
    const lists = await Promise.all(families.map((f) => host.stats.iptablesDnat(f)));
    if (lists.some((l) => l === null)) return null;
    const out = new Map<string, Count>();
    for (const c of lists.flatMap((l) => l ?? [])) {
      const had = out.get(c.key);
      out.set(c.key, had ? { packets: had.packets + c.packets, bytes: had.bytes + c.bytes } : c);
    }
    return out;
  };
  const [opened, traffic, open] = await Promise.all([
    nft ? byPort("opened") : dnat(),
    nft ? byPort("traffic") : null,
    host.stats.openConnections(families, protos),
  ]);
  // Open connections are the ones porthole's rules marked: without the rules, conntrack's 0 says nothing.
  if (!opened) return { opened: null, traffic: null, open: null };
  return { opened: new Map([...opened].map(([k, c]) => [k, c.packets])), traffic, open };
}

const COUNTED = ["tcp", "udp"] as const;

/**
 * `reachable` of the status: true when the target accepted, false when refused, timed out or
 * unreachable, null when the probe failed on the hub (that says nothing about the target).
 */
export const reachableOf = (r: ConnectResult): boolean | null =>
  r.outcome === "accepted" ? true : r.outcome === "error" ? null : false;

/**
 * How each forward's (in `spec.forwards` order) target answers a TCP connect from the hub, through
 * the tunnel, probed now, every one: its first IPv4 TCP target (`target`) and how the connect ended
 * (`result`); both null when it has none (UDP only, IPv6 only), which is not probed. Used by
 * `porthole doctor`, the thorough check (`porthole status` probes through a ProbeCache).
 */
export async function probeForwards(
  host: Host,
  spec: Spec,
  targets: Target[],
): Promise<{ target: Target | null; result: ConnectResult | null }[]> {
  const firsts = firstTcpTargets(spec, targets);
  const answers = await probeTargets(host, firsts);
  return firsts.map((t, i) => ({ target: t ?? null, result: answers[i] ?? null }));
}

/** firstTcpTargets' answers by the targets (which the daemon keeps per spec text) and their spec. */
const firstsOf = new WeakMap<Target[], { spec: Spec; firsts: (Target | undefined)[]; probed: ProbeList }>();

/** The targets a status probes ({addr, port}: ProbeSource.check's argument), and each forward's key. */
interface ProbeList {
  targets: { addr: string; port: number }[];
  keys: (string | undefined)[];
}

/** firstTcpTargets as ProbeSource.check takes them, and each forward's target key (undefined: none). */
function probeList(spec: Spec, targets: Target[]): ProbeList {
  firstTcpTargets(spec, targets);
  return (firstsOf.get(targets) as { probed: ProbeList }).probed;
}

/**
 * Each forward's (in `spec.forwards` order) first IPv4 TCP target, the one probed; undefined: none.
 * Worked out once per spec and targets: every status asks (10,000 forwards: a map of them each time).
 */
function firstTcpTargets(spec: Spec, targets: Target[]): (Target | undefined)[] {
  const hit = firstsOf.get(targets);
  if (hit?.spec === spec) return hit.firsts;
  const firstTcp = new Map<string, Target>();
  for (const t of targets)
    if (t.proto === "tcp" && t.family === 4 && !firstTcp.has(t.forward)) firstTcp.set(t.forward, t);
  const firsts = spec.forwards.map((f) => firstTcp.get(f.name));
  const probed: ProbeList = {
    targets: firsts.flatMap((t) => (t ? [{ addr: t.addr, port: t.targetPort }] : [])),
    keys: firsts.map((t) => t && targetKey(t.addr, t.targetPort)),
  };
  firstsOf.set(targets, { spec, firsts, probed });
  return firsts;
}

/** How each target answers a TCP connect from the hub, now: a few at a time, each address:port once. */
async function probeTargets(host: Host, targets: (Target | undefined)[]): Promise<(ConnectResult | null)[]> {
  const cache = new ProbeCache((addr, port) => host.probe.connect(addr, port, PROBE_TIMEOUT_MS), Date.now);
  const got = await cache.check(
    targets.flatMap((t) => (t ? [{ addr: t.addr, port: t.targetPort }] : [])),
    { freshMs: 0, max: Number.POSITIVE_INFINITY, atOnce: PROBES_AT_ONCE, budgetMs: Number.POSITIVE_INFINITY },
  );
  return targets.map((t) => {
    const p = t && got.get(targetKey(t.addr, t.targetPort));
    return p ? { outcome: p.outcome, error: p.error } : null;
  });
}
