// The forwards' rules, one named function each, in the order their diagnostics appear: name, ports,
// reserved ports, port claims, target peer, allow-list, modes. Only a forward with no problem is kept.
import type { Cidr } from "../net/ip.ts";
import { formatRange, type PortRange, parsePortRange, rangeLength } from "../net/ports.ts";
import { type Problems, show } from "./diagnostics.ts";
import { checkReservedPorts, hubReservedPorts, type ReservedPort } from "./reserved-ports.ts";
import type { ForwardShape } from "./schema.ts";
import type { Forward, Hub, Peer, Proto } from "./types.ts";
import { allowEntry, checkName, showName } from "./value-rules.ts";

const ports = (n: number) => (n === 1 ? "1 port" : `${n} ports`);

type ForwardInput = NonNullable<ReturnType<typeof ForwardShape.parse>>;
type At = (field: string) => (string | number)[];

/** What the forward rules remember while they walk the list, so each check costs its own ports. */
interface ForwardsSeen {
  byName: Map<string, Peer>;
  /** Forward names taken so far, with the index that took them. */
  names: Map<string, number>;
  /**
   * The first forward to claim each public port, per protocol (its index + 1; 0 = free): finding a
   * clash costs the length of the range, not the number of forwards before it.
   */
  owner: Record<Proto, Int32Array>;
  claimed: PortRange[];
  /** Public ports the hub keeps for itself, and why. */
  reserved: ReservedPort[];
  /**
   * The mode each target (peer, protocol, port) is sent with: key (slot * 2 + udp) * 65536 + port,
   * value forward index * 2 + transparent. Numbers, not strings: this runs once per target port.
   */
  modes: Map<number, number>;
  slots: Map<string, number>;
  /** allowFrom lists repeat the same few prefixes, and parsing one is not cheap. */
  cidrs: Map<string, ReturnType<typeof allowEntry>>;
}

function forwardsSeen(hub: Hub, peers: Peer[]): ForwardsSeen {
  return {
    byName: new Map(peers.map((x) => [x.name, x])),
    names: new Map(),
    owner: { tcp: new Int32Array(65536), udp: new Int32Array(65536) },
    claimed: [],
    reserved: hubReservedPorts(hub),
    modes: new Map(),
    slots: new Map(peers.map((x, k) => [x.name, k])),
    cidrs: new Map(),
  };
}

/** A forward's name is valid and used once. */
function checkForwardName(seen: ForwardsSeen, f: ForwardInput, i: number, at: At, p: Problems): void {
  if (!checkName(f.name, at("name"), p)) return;
  if (seen.names.has(f.name))
    p.add(at("name"), `${show(f.name)} is already used by forwards[${seen.names.get(f.name)}]`);
  else seen.names.set(f.name, i);
}

/** The public port and the target port are ports or ranges, and ranges of equal length (they map 1:1). */
function checkForwardPorts(f: ForwardInput, at: At, p: Problems) {
  const port = parsePortRange(f.port);
  if (!port.ok) p.add(at("port"), `${show(f.port)} ${port.reason}`);
  const target = parsePortRange(f.targetPort ?? f.port);
  if (!target.ok && f.targetPort !== undefined)
    p.add(at("targetPort"), `${show(f.targetPort)} ${target.reason}`);
  const span = port.ok && target.ok ? spanProblem(port.range, target.range, f.targetPort) : undefined;
  if (span) p.add(at("targetPort"), span);
  return { port, target };
}

/**
 * Why the target port (`targetText` as written) cannot take the public port's range, or undefined:
 * ranges map 1:1, so both span as many ports. The command line checks it too, before asking the hub.
 */
export function spanProblem(port: PortRange, target: PortRange, targetText: unknown): string | undefined {
  if (rangeLength(port) === rangeLength(target)) return undefined;
  return `${show(targetText)} spans ${ports(rangeLength(target))} but port ${formatRange(port)} spans ${rangeLength(port)}; ranges map 1:1, so give one of equal length`;
}

/** Each public port and protocol has one forward: the first claim wins, a later one is named against it. */
function checkPortClaims(
  seen: ForwardsSeen,
  i: number,
  range: PortRange,
  protos: Proto[],
  at: At,
  p: Problems,
): void {
  seen.claimed[i] = range;
  for (const proto of protos) {
    const own = seen.owner[proto];
    let clash = 0;
    for (let q = range.from; q <= range.to; q++) {
      const o = own[q] as number;
      if (o === 0) own[q] = i + 1;
      else if (clash === 0 || o < clash) clash = o;
    }
    if (clash) {
      p.add(
        at("port"),
        `${proto}/${formatRange(range)} is already forwarded by forwards[${clash - 1}] (${proto}/${formatRange(seen.claimed[clash - 1] as PortRange)}); each public port and protocol can have one forward`,
      );
    }
  }
}

/** The target is a peer of this spec, and a device (no porthole on it) is not sent traffic transparently. */
function checkForwardPeer(
  seen: ForwardsSeen,
  f: ForwardInput,
  mode: Forward["mode"],
  at: At,
  p: Problems,
): Peer | undefined {
  const peer = seen.byName.get(f.peer);
  if (!peer) {
    const known = [...seen.byName.keys()].map(showName).join(", ") || "none defined";
    p.add(at("peer"), `${show(f.peer)} is not a peer in this spec; known peers: ${known}`);
  } else if (mode === "transparent" && peer.kind === "device") {
    p.add(
      at("mode"),
      `"transparent" needs the target to run porthole (policy routing for replies), but ${show(peer.name)} is a device; use "snat"`,
    );
  }
  return peer;
}

/** allowFrom holds addresses or prefixes without host bits; returns the valid ones. */
function checkAllowList(seen: ForwardsSeen, hub: Hub, f: ForwardInput, i: number, p: Problems): Cidr[] {
  const allowFrom: Cidr[] = [];
  const before = p.list.length;
  (f.allowFrom ?? []).forEach((text, j) => {
    let entry = seen.cidrs.get(text);
    if (entry === undefined) {
      entry = allowEntry(text);
      seen.cidrs.set(text, entry);
    }
    if ("problem" in entry) p.add(["forwards", i, "allowFrom", j], `${show(text)} ${entry.problem}`);
    else allowFrom.push(entry.cidr);
  });
  // A hub without subnet6 forwards IPv4 only: a list of IPv6 sources alone would admit no client at all
  // (an IPv6 entry beside IPv4 ones is kept: it takes effect once hub.subnet6 is set).
  if (p.list.length === before && allowFrom.length && !hub.subnet6 && allowFrom.every((c) => c.family === 6))
    p.add(
      ["forwards", i, "allowFrom"],
      `${show(f.allowFrom?.join(", "))} holds IPv6 sources only, but the hub forwards IPv4 only (no hub.subnet6): no client could connect; add the IPv4 addresses to admit, or set hub.subnet6`,
    );
  return allowFrom;
}

/** One target (peer, protocol, port) takes one mode: snat and transparent replies cannot both hold. */
function checkForwardModes(
  seen: ForwardsSeen,
  i: number,
  peer: Peer,
  protos: Proto[],
  target: PortRange,
  mode: Forward["mode"],
  at: At,
  p: Problems,
): void {
  const transparent = mode === "transparent" ? 1 : 0;
  for (const proto of protos) {
    const base = ((seen.slots.get(peer.name) as number) * 2 + (proto === "udp" ? 1 : 0)) * 65536;
    for (let t = target.from; t <= target.to; t++) {
      const prev = seen.modes.get(base + t);
      if (prev !== undefined && (prev & 1) !== transparent) {
        const where = `${proto} ${showName(peer.name)}:${t}`;
        const prevMode = prev & 1 ? "transparent" : "snat";
        p.add(
          at("mode"),
          `${show(mode)} differs from forwards[${prev >>> 1}], which sends ${where} as ${show(prevMode)}; one target takes one mode`,
        );
        break;
      }
      seen.modes.set(base + t, i * 2 + transparent);
    }
  }
}

/** The forwards, rule by rule in the order their diagnostics appear; only a forward with none is kept. */
export function checkForwards(
  hub: Hub,
  peers: Peer[],
  inputs: (ForwardInput | undefined)[],
  p: Problems,
): Forward[] {
  const seen = forwardsSeen(hub, peers);
  const out: Forward[] = [];
  inputs.forEach((f, i) => {
    if (!f) return;
    const before = p.list.length;
    const at: At = (field) => ["forwards", i, field];
    checkForwardName(seen, f, i, at, p);
    const protos: Proto[] = f.proto === "tcp+udp" ? ["tcp", "udp"] : [f.proto ?? "tcp"];
    const { port, target } = checkForwardPorts(f, at, p);
    if (port.ok) {
      checkReservedPorts(seen.reserved, f.port, port.range, protos, at, p);
      checkPortClaims(seen, i, port.range, protos, at, p);
    }
    const mode = f.mode ?? "snat";
    const peer = checkForwardPeer(seen, f, mode, at, p);
    const allowFrom = checkAllowList(seen, hub, f, i, p);
    if (peer && target.ok) checkForwardModes(seen, i, peer, protos, target.range, mode, at, p);
    if (p.list.length > before || !port.ok || !target.ok) return;
    out.push({
      name: f.name,
      protos,
      port: port.range,
      peer: f.peer,
      targetPort: target.range,
      mode,
      allowFrom,
      shadowHubService: f.shadowHubService ?? false,
    });
  });
  return out;
}
