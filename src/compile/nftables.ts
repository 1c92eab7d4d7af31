// The `inet porthole` table as data (plan/nft.ts): forwards live in maps and sets, so each packet costs
// one hash lookup however many forwards there are; the chains are text around them. compile/nft-text.ts
// renders it into the script that replaces the whole table in one `nft -f` transaction.
import { type Cidr, formatAddr, formatCidr, hostBits, outermost } from "../net/ip.ts";
import type { NftCollection, NftPlan } from "../plan/nft.ts";
import { type Enrolling, OPEN_MARK, type Target, TRANSPARENT } from "../plan/plan.ts";
import type { Spec } from "../spec/types.ts";
import { pooledAddrs } from "./snat-pool.ts";

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/** A set; `flags` holds lines like "flags interval" or "counter" (per-element counters). */
const set = (
  name: string,
  type: string,
  elements: Iterable<string>,
  flags: string[] = [],
): NftCollection => ({
  kind: "set",
  name,
  type,
  flags,
  elements: Array.isArray(elements) ? elements : [...elements],
});
const map = (
  name: string,
  type: string,
  elements: [string, string][],
  flags: string[] = [],
): NftCollection => ({
  kind: "map",
  name,
  type,
  flags,
  elements,
});

function chain(name: string, hook: string | null, rules: string[]): string[] {
  return [`\tchain ${name} {`, ...(hook ? [`\t\t${hook}`] : []), ...rules.map((r) => `\t\t${r}`), "\t}"];
}

/** The elements of one family's sets and maps, in target order (see expandTargets), sets deduplicated. */
interface FamilyElements {
  dnat: [string, string][];
  targets: Set<string>;
  allow: Set<string>;
  /** snat targets whose clients come from the hub's tunnel address. */
  snat: Set<string>;
  /** snat targets whose clients come from the SNAT pool (agent peers' IPv4 targets, when hub.snatPool). */
  pool: Set<string>;
}

/** The protocols with a traffic counter set each (`traffic_tcp`, `traffic_udp`). */
const COUNTED = ["tcp", "udp"] as const;

/** One pass over the plan's targets (in expandTargets' order: forward, peer address, protocol, port). */
function hubElements(
  targets: Target[],
  pooled: Set<string>,
): {
  fam: Record<4 | 6, FamilyElements>;
  restricted: Set<string>;
  traffic: Record<(typeof COUNTED)[number], string[]>;
} {
  const fam: Record<4 | 6, FamilyElements> = {
    4: { dnat: [], targets: new Set(), allow: new Set(), snat: new Set(), pool: new Set() },
    6: { dnat: [], targets: new Set(), allow: new Set(), snat: new Set(), pool: new Set() },
  };
  const restricted = new Set<string>();
  // Public ports by protocol: a public port belongs to one forward, so its counter is that forward's.
  const traffic = { tcp: [] as string[], udp: [] as string[] };
  // A forward's allow-list, formatted once: its targets share the list.
  let allowOf: Target["allowFrom"] | undefined;
  let allowFrom: { family: 4 | 6; text: string }[] = [];
  for (const t of targets) {
    if (t.allowFrom !== allowOf) {
      allowOf = t.allowFrom;
      // Nested or repeated prefixes (an office's /24 and one of its hosts) as the outer one alone.
      allowFrom = outermost(t.allowFrom).map((c) => ({ family: c.family, text: formatCidr(c) }));
    }
    const pub = `${t.proto} . ${t.port}`;
    // Once per public port: a peer's first address is its IPv4 one.
    if (t.family === 4) traffic[t.proto].push(String(t.port));
    const e = fam[t.family];
    e.dnat.push([pub, `${t.addr} . ${t.targetPort}`]);
    const tgt = `${t.addr} . ${t.proto} . ${t.targetPort}`;
    e.targets.add(tgt);
    if (t.mode === "snat") (pooled.has(t.addr) ? e.pool : e.snat).add(tgt);
    if (allowFrom.length) {
      for (const c of allowFrom) fam[c.family].allow.add(`${pub} . ${c.text}`);
      restricted.add(pub);
    }
  }
  return { fam, restricted, traffic };
}

/** `targets`: the spec's forwards expanded (expandTargets), as the plan carries them. */
export function hubNftables(spec: Spec, targets: Target[], enrolling: Enrolling[] = []): NftPlan {
  const { hub } = spec;
  const wg = JSON.stringify(hub.interface);
  // A client's address into the pool: its host bits kept, the pool's prefix put over the rest. The
  // mask keeps the prefix's own bits too (the OR sets them anyway), as nft lists the rule back.
  const poolMap = (c: Cidr) => ({
    hostMask: formatAddr({ family: c.family, value: ((1n << BigInt(hostBits(c))) - 1n) | c.base }),
    base: formatAddr({ family: c.family, value: c.base }),
  });
  const pools = {
    4: hub.snatPool ? poolMap(hub.snatPool) : null,
    6: hub.snatPool6 ? poolMap(hub.snatPool6) : null,
  };
  const { fam, restricted, traffic } = hubElements(targets, pooledAddrs(spec));
  const v6 = hub.address6 !== undefined;
  // Traffic from the internet: a named interface, or ("auto") anything but the tunnel addressed to the hub.
  const fromPublic =
    hub.publicInterface === "auto"
      ? `iifname != ${wg} fib daddr type local`
      : `iifname ${JSON.stringify(hub.publicInterface)}`;

  const families: (4 | 6)[] = v6 ? [4, 6] : [4];
  const ipk = (f: 4 | 6) => (f === 4 ? "ip" : "ip6");
  const addrType = (f: 4 | 6) => (f === 4 ? "ipv4_addr" : "ipv6_addr");
  const hubAddr = (f: 4 | 6) =>
    formatAddr(f === 4 ? hub.address : (hub.address6 as NonNullable<typeof hub.address6>));

  const [established, closed] = [hex(OPEN_MARK.established), hex(OPEN_MARK.closed)];
  // DNAT to the map's target, counting the connection in opened_PROTO first. Every public port has an
  // IPv4 target, so opened_* holds dnat4's ports; dnat6 may lack one (a peer without an IPv6 address),
  // and its key is checked first so that a connection not DNAT'd is not counted.
  const dnat = (f: 4 | 6) =>
    COUNTED.map(
      (p) =>
        `${f === 6 ? "meta l4proto . th dport @dnat6 " : ""}meta l4proto ${p} th dport @opened_${p} dnat ${ipk(f)} to meta l4proto . th dport map @dnat${f}`,
    );

  const collections: NftCollection[] = [];
  for (const f of families) {
    const e = fam[f];
    collections.push(
      // No counters here: nft lists a map's elements several times slower than a port-keyed set's, and
      // status reads the counters (opened_tcp/opened_udp count the new connections instead).
      map(`dnat${f}`, `inet_proto . inet_service : ${addrType(f)} . inet_service`, e.dnat),
      set(`targets${f}`, `${addrType(f)} . inet_proto . inet_service`, e.targets),
      set(`allow${f}`, `inet_proto . inet_service . ${addrType(f)}`, e.allow, ["flags interval"]),
      // snat is chosen per target (validation keeps one mode per peer address, protocol and port).
      set(`snat${f}`, `${addrType(f)} . inet_proto . inet_service`, e.snat),
    );
  }
  for (const f of families)
    if (pools[f])
      collections.push(set(`pool${f}`, `${addrType(f)} . inet_proto . inet_service`, fam[f].pool));
  // Element counters: packets and bytes per public port, both directions, both families. Keyed by the
  // connection's original destination port (`ct original proto-dst`, which nft takes alone but not in a
  // concatenation), so two forwards to one target count apart.
  for (const p of COUNTED) collections.push(set(`traffic_${p}`, "inet_service", traffic[p], ["counter"]));
  // Element counters: new connections per public port, both families, looked up by the DNAT rules (a
  // nat chain sees a connection's first packet only: packets = connections). Keyed by port alone per
  // protocol, like traffic_*: nft lists such a set ~3 times faster than an `inet_proto . inet_service` one.
  for (const p of COUNTED) collections.push(set(`opened_${p}`, "inet_service", traffic[p], ["counter"]));
  collections.push(set("restricted", "inet_proto . inet_service", restricted));
  // Always declared, empty when no one enrolls: a key given out or used changes elements only, an
  // element patch, not a reload (which loses the packets counted while it runs).
  collections.push(
    set(
      "enrolling",
      "ipv4_addr",
      enrolling.map((e) => e.address),
    ),
  );

  // Only a hub with an allow-listed forward has the gate: a filter hook at prerouting sees every packet
  // from the internet (SSH and the hub's other services too), and with nothing restricted it has
  // nothing to drop. The first allowFrom changes the chains, so it reloads the table (reconcile/nft-delta.ts).
  const gated = restricted.size > 0;
  const chains = [
    // Sources outside a forward's allow-list are dropped before DNAT.
    ...(gated
      ? chain(
          "gate",
          "type filter hook prerouting priority dstnat - 10; policy accept;",
          families.map(
            (f) =>
              `${fromPublic} meta nfproto ipv${f} meta l4proto . th dport @restricted meta l4proto . th dport . ${ipk(f)} saddr != @allow${f} drop`,
          ),
        )
      : []),
    ...chain(
      "prerouting",
      "type nat hook prerouting priority dstnat; policy accept;",
      families.flatMap((f) => dnat(f).map((r) => `${fromPublic} meta nfproto ipv${f} ${r}`)),
    ),
    // Clients on the hub itself (a probe, a container, a reverse proxy calling the public name): their
    // packets to the hub's own addresses skip prerouting, so DNAT them in output too. Local addresses
    // but loopback and the tunnel's (whatever publicInterface names: such packets never cross it).
    ...chain(
      "output",
      "type nat hook output priority -100; policy accept;",
      families.flatMap((f) => {
        const toHub = `meta nfproto ipv${f} fib daddr type local ${ipk(f)} daddr != { ${f === 4 ? "127.0.0.0/8" : "::1"}, ${hubAddr(f)} }`;
        return [
          ...(gated
            ? [
                `${toHub} meta l4proto . th dport @restricted meta l4proto . th dport . ${ipk(f)} saddr != @allow${f} return`,
              ]
            : []),
          ...dnat(f).map((r) => `${toHub} ${r}`),
        ];
      }),
    ),
    // The SNAT keeps the client's source port when it is free (no fully-random): a client that reopens
    // its own port gets its old binding back, so the hub does not free a port the peer still holds
    // in TIME_WAIT for it (see docs/design-notes.md, "SNAT keeps the client's source port"). With a
    // pool, each client gets its own address in it (its low bits, like iptables' NETMAP), so the peer
    // tells clients apart and one client's TIME_WAIT never meets another's SYN ("One SNAT address per
    // client"). Written as bitwise arithmetic on the source, not nft's prefix NAT (`snat ip prefix to
    // ip saddr map { 0.0.0.0/0 : POOL }`): that looks up a map per new connection, and bench:relay read
    // it 0.83–0.92 × the hub's address, against ~1.03 for the arithmetic.
    ...chain(
      "postrouting",
      "type nat hook postrouting priority srcnat; policy accept;",
      families
        .map(
          (f) =>
            `oifname ${wg} ct status dnat ${ipk(f)} daddr . meta l4proto . th dport @snat${f} snat ${ipk(f)} to ${hubAddr(f)}`,
        )
        .concat(
          families
            .filter((f) => pools[f])
            .map(
              (f) =>
                `oifname ${wg} ct status dnat ${ipk(f)} daddr . meta l4proto . th dport @pool${f} snat ${ipk(f)} to ${ipk(f)} saddr & ${pools[f]?.hostMask} | ${pools[f]?.base}`,
            ),
        )
        .concat(
          // A client on the hub has a public source address (the peer would answer it by its own
          // route): always SNAT, in transparent mode too.
          families.map(
            (f) =>
              `oifname ${wg} ct status dnat fib saddr type local ${ipk(f)} daddr . meta l4proto . th dport @targets${f} snat ${ipk(f)} to ${hubAddr(f)}`,
          ),
        ),
    ),
    // The hub's tunnel addresses (the API listens there) are reachable through the tunnel only;
    // enrollment keys may reach the API port and nothing else.
    ...chain("input", "type filter hook input priority filter; policy accept;", [
      ...families.map((f) => `iifname != { ${wg}, "lo" } ${ipk(f)} daddr ${hubAddr(f)} drop`),
      `iifname ${wg} ip saddr @enrolling tcp dport ${hub.apiPort} accept`,
      `iifname ${wg} ip saddr @enrolling drop`,
    ]),
    ...chain("forward", "type filter hook forward priority filter; policy accept;", [
      `iifname ${wg} ip saddr @enrolling drop`,
      `oifname ${wg} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu`,
      // Each packet of a forwarded connection, either direction, counts once for its public port.
      `ct status dnat meta l4proto vmap { ${COUNTED.map((p) => `${p} : jump forwarded_${p}`).join(", ")} }`,
      `oifname ${wg} goto into_tunnel`,
      `iifname ${wg} goto out_of_tunnel`,
    ]),
    ...chain("into_tunnel", null, [
      "ct state established,related accept",
      `iifname ${wg} ${hub.mesh ? "accept" : "drop"}`,
      ...families.map((f) => `ct status dnat ${ipk(f)} daddr . meta l4proto . th dport @targets${f} accept`),
      "drop",
    ]),
    // Open forwarded connections carry OPEN_MARK (status lists those alone): TCP from the first packet
    // after the handshake (ct state is established from the SYN-ACK on) to the first FIN or RST, UDP
    // while conntrack tracks the flow.
    ...chain("forwarded_tcp", null, [
      "meta l4proto tcp ct original proto-dst @traffic_tcp",
      `ct mark & ${established} == 0 ct state established tcp flags & (syn | fin | rst) == 0 ct mark set ct mark | ${established} return`,
      `tcp flags & (fin | rst) != 0 ct mark set ct mark | ${closed}`,
    ]),
    ...chain("forwarded_udp", null, [
      "meta l4proto udp ct original proto-dst @traffic_udp",
      `ct mark set ct mark | ${established}`,
    ]),
    // Peers may answer and reach each other, but the hub is not an exit to the internet.
    ...chain("out_of_tunnel", null, ["ct state established,related accept", "drop"]),
  ];
  return { collections, chains: chains.join("\n") };
}

/**
 * Transparent mode on a peer: replies to connections that came in through the tunnel go back through it,
 * whether this host answers (output) or forwards the answer of a container, VM or LAN host behind a DNAT
 * here (prerouting, reply direction only: the request itself must still be routed to the container).
 * Masked: only porthole's bits of the ct mark and the packet mark are set, never cleared.
 */
export function peerNftables(spec: Spec): NftPlan {
  const wg = JSON.stringify(spec.hub.interface);
  const bits = `0x${TRANSPARENT.mask.toString(16)}`;
  const mark = `0x${TRANSPARENT.fwmark.toString(16)}`;
  const restore = `ct direction reply ct mark & ${bits} == ${mark} meta mark set meta mark | ${mark}`;
  const chains = [
    ...chain("prerouting", "type filter hook prerouting priority mangle; policy accept;", [
      `iifname ${wg} ct state new ct mark set ct mark | ${mark}`,
      restore,
    ]),
    ...chain("output", "type route hook output priority mangle; policy accept;", [restore]),
  ];
  return { collections: [], chains: chains.join("\n") };
}
