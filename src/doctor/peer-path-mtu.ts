// Path MTU between this peer and the hub, measured with Don't Fragment pings: over the internet to the
// hub's public address (the path WireGuard's own UDP packets take), and through the tunnel to the
// hub's tunnel address. A router that cannot forward a big packet and whose "fragmentation needed"
// never comes back (ICMP filtered) makes a black hole: small packets pass, big ones vanish, and TCP
// connections through the forward hang once data flows.
import type { PingResult } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import { endpointAddress, hubPeer, type Outcome, type PeerScene } from "./peer-scene.ts";

/** What WireGuard adds to each packet: outer IP header + UDP (8) + its own header and tag (32). */
export const WG_OVERHEAD = { 4: 60, 6: 80 } as const;
/** IP + ICMP echo header: ping's payload is the packet size minus this. */
export const PING_HEADER = { 4: 28, 6: 48 } as const;
/** The smallest packet every IPv4 / IPv6 link carries. */
export const MIN_PACKET = { 4: 576, 6: 1280 } as const;

export interface PacketSearch {
  /** The largest packet (bytes, IP header included) that was answered; null when none was. */
  largest: number | null;
  /** The size asked for first (what should fit). */
  wanted: number;
  /** A "fragmentation needed"/"message too long" told the size (the path reports itself: no black hole). */
  told: boolean;
  probes: number;
}

/**
 * The largest packet in [lo, wanted] that `send` gets answered: `wanted` first (one probe when it
 * fits), then the size a refusal names, then a binary search down to lo.
 */
export async function largestPacket(
  send: (packet: number) => Promise<PingResult>,
  lo: number,
  wanted: number,
): Promise<PacketSearch> {
  let probes = 0;
  const ask = (n: number) => {
    probes++;
    return send(n);
  };
  const first = await ask(wanted);
  if (first.kind === "answered") return { largest: wanted, wanted, told: false, probes };
  if (first.kind === "error") return { largest: null, wanted, told: false, probes };
  let told = false;
  let bad = wanted;
  if (first.kind === "too-big" && first.mtu && first.mtu < wanted && first.mtu >= lo) {
    told = true;
    if ((await ask(first.mtu)).kind === "answered") return { largest: first.mtu, wanted, told, probes };
    bad = first.mtu;
  }
  if ((await ask(lo)).kind !== "answered") return { largest: null, wanted, told, probes };
  let good = lo;
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    if ((await ask(mid)).kind === "answered") good = mid;
    else bad = mid;
  }
  return { largest: good, wanted, told, probes };
}

/**
 * The verdict on both measurements: `mtu` the tunnel's MTU, `family` the internet path's, `underlay`
 * the search to the public address (wanted = mtu + overhead), `tunnel` the search through the tunnel
 * (wanted = mtu).
 */
export function judgeMtu(
  mtu: number,
  family: 4 | 6,
  hubAddress: string,
  underlay: PacketSearch,
  tunnel: PacketSearch,
): Outcome {
  const overhead = WG_OVERHEAD[family];
  const setMtu = (n: number) =>
    `on the hub: set \`hub: { mtu: ${n} }\` in porthole.yaml, then porthole apply (peers take it from the hub's spec; re-run porthole apply on peers set up by hand)`;
  const path =
    underlay.largest === null
      ? `${hubAddress} does not answer ping over the internet`
      : underlay.largest >= underlay.wanted
        ? `path MTU to ${hubAddress} ≥ ${underlay.wanted}`
        : `path MTU to ${hubAddress} is ${underlay.largest}${underlay.told ? "" : ' (ICMP "fragmentation needed" does not come back)'}`;
  if (tunnel.largest === null)
    return {
      status: "unknown",
      found: `the hub does not answer ping through the tunnel; ${path}`,
    };
  const fromUnderlay =
    underlay.largest !== null && underlay.largest < underlay.wanted ? underlay.largest - overhead : null;
  if (tunnel.largest < mtu) {
    // The internet path's measure is exact: WireGuard pads a packet to a multiple of 16 bytes but never
    // past the interface's MTU, so the tunnel's own measure (taken at today's MTU, padding included)
    // can be up to 15 bytes lower than what works once the MTU is set.
    const to = fromUnderlay ?? tunnel.largest;
    return {
      status: "fail",
      found: `packets over ${tunnel.largest} bytes are lost in the tunnel (MTU ${mtu}): a path MTU black hole; ${path}`,
      fix: setMtu(to),
    };
  }
  if (fromUnderlay !== null)
    return {
      status: "warn",
      found: `full-size packets (${mtu}) cross the tunnel, but ${path} < ${mtu} + ${overhead}: WireGuard's packets are fragmented on the way`,
      fix: setMtu(fromUnderlay),
    };
  return { status: "ok", found: `${mtu}-byte packets cross the tunnel; ${path}` };
}

export async function checkPathMtu(s: PeerScene): Promise<Outcome> {
  const { hub } = s.spec;
  const p = await hubPeer(s);
  const wg = await s.host.wg.observe(hub.interface);
  if (!wg.exists || !p) return { status: "unknown", found: `${hub.interface} is not up: nothing to measure` };
  let address = p.endpoint ? endpointAddress(p.endpoint) : null;
  if (!address) address = (await s.host.net.resolve(hub.endpoint.host.replace(/^\[|\]$/g, "")))[0] ?? null;
  if (!address) return { status: "unknown", found: "the hub's public address is not known here" };
  const family = address.includes(":") ? 6 : 4;
  const mtu = wg.mtu ?? hub.mtu;
  const tunnelAddress = formatAddr(hub.address);
  const inner = hub.address.family;
  const [underlay, tunnel] = await Promise.all([
    largestPacket(
      (n) => s.host.probe.ping(address, n - PING_HEADER[family], 1000),
      MIN_PACKET[family],
      mtu + WG_OVERHEAD[family],
    ),
    largestPacket(
      (n) => s.host.probe.ping(tunnelAddress, n - PING_HEADER[inner], 1000),
      MIN_PACKET[inner],
      mtu,
    ),
  ]);
  return judgeMtu(mtu, family, address, underlay, tunnel);
}
