// Meaning checks and normalization: from shape-checked input to a Spec, or every problem found.
import {
  type Addr,
  addrAt,
  type Cidr,
  contains,
  formatAddr,
  formatCidr,
  hostRange,
  isNetworkAddress,
  isUla,
  networkOf,
  offsetIn,
  parseAddr,
  parseCidr,
} from "../net/ip.ts";
import { formatRange, overlaps, type PortRange, parsePortRange, rangeLength } from "../net/ports.ts";
import { keyProblem } from "../net/wgkey.ts";
import { allocateAddresses } from "./allocate.ts";
import { DEFAULTS, HOST_RE, IFNAME_RE, LIMIT_MAX, NAME_RE, NAME_RULE } from "./defaults.ts";
import { type Diagnostic, Problems, show } from "./diagnostics.ts";
import { ForwardShape, HubShape, LimitsShape, PeerShape, RootShape } from "./schema.ts";
import { checkShape } from "./shape.ts";
import type { Forward, Hub, Limits, Peer, Proto, Spec } from "./types.ts";

// Read by other modules from here before the defaults had a module of their own.

/** A name as it appears in a message: bare when valid, else quoted (so a line stays one line). */
const showName = (n: string) => (NAME_RE.test(n) ? n : show(n));
const fields = (shape: { shape: object }) => Object.keys(shape.shape);

// Fills a required key whose problem is already reported, so the rest of the section is still checked.
const STAND_IN_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
// Stand-ins for a hub subnet or address whose problem is already reported (see checkHub).
const ANY4: Cidr = { family: 4, base: 0n, prefix: 0 };
const ANY6: Cidr = { family: 6, base: 0n, prefix: 0 };
const NOWHERE4: Addr = { family: 4, value: -1n };
const NOWHERE6: Addr = { family: 6, value: -1n };

export type ValidateResult = { ok: true; spec: Spec } | { ok: false; problems: Diagnostic[] };

export function validate(input: unknown): ValidateResult {
  if (input === null || input === undefined) {
    const message = "the file is empty; a spec needs at least a hub section with endpoint and publicKey";
    return { ok: false, problems: [{ path: [], message }] };
  }
  const p = new Problems();
  const root = checkShape(RootShape, input, [], fields(RootShape));
  if (!root.value) return { ok: false, problems: root.problems };
  p.push(...root.problems);

  const hub = checkHub(root.value.hub, p);
  const peers = (root.value.peers ?? []).map((raw, i) =>
    checkShape(PeerShape, raw, ["peers", i], fields(PeerShape), { publicKey: STAND_IN_KEY }),
  );
  const forwards = (root.value.forwards ?? []).map((raw, i) =>
    checkShape(ForwardShape, raw, ["forwards", i], fields(ForwardShape)),
  );
  for (const r of [...peers, ...forwards]) p.push(...r.problems);

  const peerList = hub
    ? checkPeers(
        hub,
        peers.map((r) => r.value),
        p,
      )
    : [];
  const forwardList = hub
    ? checkForwards(
        hub,
        peerList,
        forwards.map((r) => r.value),
        p,
      )
    : [];
  if (p.list.length || !hub) return { ok: false, problems: p.list };
  return { ok: true, spec: { hub, peers: peerList, forwards: forwardList } };
}

/** The diagnostic of a prefix written with host bits set, naming the prefix meant. */
const hostBits = (text: string, c: Cidr) =>
  `${show(text)} has host bits set; did you mean ${formatCidr({ ...c, base: networkOf(c) })}?`;

function checkCidr(
  text: string | undefined,
  fallback: string | undefined,
  path: (string | number)[],
  p: Problems,
  example: string,
) {
  const value = text ?? fallback;
  if (value === undefined) return undefined;
  const c = parseCidr(value);
  if (!c || !value.includes("/")) {
    p.add(
      path,
      `${show(value)} is not a network prefix; expected an address with a prefix length, like ${example}`,
    );
    return undefined;
  }
  if (!isNetworkAddress(c)) {
    p.add(path, hostBits(value, c));
    return undefined;
  }
  return c;
}

function checkHostAddr(
  text: string,
  subnet: Cidr,
  path: (string | number)[],
  p: Problems,
  what: string,
): Addr | undefined {
  const a = parseAddr(text);
  if (!a) {
    p.add(path, `${show(text)} is not an IPv${subnet.family} address`);
    return undefined;
  }
  const r = hostRange(subnet);
  if (!contains(subnet, a)) {
    p.add(path, `${show(text)} is outside ${what} ${formatCidr(subnet)}`);
  } else if (offsetIn(subnet, a) < r.first || offsetIn(subnet, a) > r.last) {
    p.add(
      path,
      `${show(text)} is the network or broadcast address of ${formatCidr(subnet)}; pick a host address`,
    );
  } else return a;
  return undefined;
}

function checkHub(raw: unknown, p: Problems): Hub | undefined {
  const r = checkShape(HubShape, raw, ["hub"], fields(HubShape), {
    endpoint: "invalid.invalid",
    publicKey: STAND_IN_KEY,
  });
  p.push(...r.problems);
  const h = r.value;
  if (!h) return undefined;
  const at = (f: string) => ["hub", f];

  const name = h.name ?? "hub";
  if (!NAME_RE.test(name)) p.add(at("name"), `${show(name)} is not a valid name; use ${NAME_RULE}`);
  const listenPort = h.listenPort ?? DEFAULTS.listenPort;
  checkPort(listenPort, at("listenPort"), p);
  const sshPort = h.sshPort ?? DEFAULTS.sshPort;
  checkPort(sshPort, at("sshPort"), p);
  const apiPort = h.apiPort ?? DEFAULTS.apiPort;
  checkPort(apiPort, at("apiPort"), p);
  const reservedPorts: PortRange[] = [];
  (h.reservedPorts ?? []).forEach((v, i) => {
    const r = parsePortRange(v);
    if (r.ok) reservedPorts.push(r.range);
    else p.add(["hub", "reservedPorts", i], `${show(v)} ${r.reason}`);
  });
  // An endpoint without a port uses listenPort; when that is out of range, it is reported above only.
  const inRange = listenPort >= 1 && listenPort <= 65535;
  const endpoint = parseEndpoint(h.endpoint, inRange ? listenPort : DEFAULTS.listenPort);
  if (!endpoint) p.add(at("endpoint"), `${show(h.endpoint)} ${endpointProblem(h.endpoint)}`);
  const kp = keyProblem(h.publicKey);
  if (kp) p.add(at("publicKey"), `${show(h.publicKey)} ${kp}`);
  const iface = h.interface ?? DEFAULTS.interface;
  if (!IFNAME_RE.test(iface)) {
    p.add(
      at("interface"),
      `${show(iface)} is not an interface name; use 1-15 letters, digits, '_', '.', '-'`,
    );
  }
  const pub = h.publicInterface ?? "auto";
  if (pub !== "auto" && !IFNAME_RE.test(pub)) {
    p.add(at("publicInterface"), `${show(pub)} is not an interface name; use "auto" or a name like ens3`);
  } else if (pub === iface) {
    p.add(
      at("publicInterface"),
      `${show(pub)} is the WireGuard interface; name the interface facing the internet`,
    );
  }
  const mtu = h.mtu ?? DEFAULTS.mtu;
  if (mtu < 1280 || mtu > 9000) p.add(at("mtu"), `${mtu} is out of range; accepted: 1280-9000`);

  const subnet = checkCidr(h.subnet, DEFAULTS.subnet, at("subnet"), p, "10.8.0.0/24");
  if (subnet && subnet.family !== 4)
    p.add(at("subnet"), `${show(h.subnet)} is not IPv4; put IPv6 in hub.subnet6`);
  else if (subnet && subnet.prefix > 30) {
    p.add(
      at("subnet"),
      `${show(h.subnet)} is too small for a hub and peers; accepted: a prefix of /30 or larger`,
    );
  }
  const subnet6 = checkCidr(h.subnet6, undefined, at("subnet6"), p, "fd00:8::/64");
  if (subnet6 && (!isUla(subnet6) || subnet6.prefix > 120)) {
    p.add(
      at("subnet6"),
      `${show(h.subnet6)} is not accepted; use a private (ULA) prefix inside fc00::/7, /120 or larger, like fd00:8::/64`,
    );
  }
  if (h.address6 !== undefined && !h.subnet6) p.add(at("address6"), "needs hub.subnet6");
  // A bad subnet or hub address is reported above; the peers and forwards are still checked, against a
  // stand-in subnet holding every address, so one run reports every problem and no follow-on ones.
  const net = subnet ?? ANY4;
  const net6 = subnet6 ?? (h.subnet6 === undefined ? undefined : ANY6);
  const address =
    (h.address
      ? checkHostAddr(h.address, net, at("address"), p, "hub.subnet")
      : addrAt(net, hostRange(net).first)) ?? NOWHERE4;
  let address6: Addr | undefined;
  if (net6) {
    address6 =
      (h.address6
        ? checkHostAddr(h.address6, net6, at("address6"), p, "hub.subnet6")
        : addrAt(net6, offsetIn(net, address))) ?? NOWHERE6;
  }
  return {
    name,
    endpoint: endpoint ?? { host: "invalid.invalid", port: listenPort },
    listenPort,
    publicKey: h.publicKey,
    publicInterface: pub,
    interface: iface,
    subnet: net,
    subnet6: net6,
    address,
    address6,
    mtu,
    firewall: h.firewall ?? "nftables",
    mesh: h.mesh ?? true,
    sshPort,
    reservedPorts,
    apiPort,
    limits: checkLimits(h.limits, p),
    metricsListen: checkListen(h.metricsListen ?? DEFAULTS.metricsListen, at("metricsListen"), p),
  };
}

/** "127.0.0.1:9851", "[::1]:9851" or "off": an IP address literal (no name to resolve) and a port. */
function checkListen(text: string, path: (string | number)[], p: Problems): Hub["metricsListen"] {
  if (text === "off") return null;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || !parseAddr(host) || port < 1 || port > 65535) {
    p.add(
      path,
      `${show(text)} is not accepted; give an IP address and port like 127.0.0.1:9851 or [::1]:9851, or "off"`,
    );
    return null;
  }
  return { host, port };
}

function checkLimits(raw: unknown, p: Problems): Limits {
  const out: Limits = { ...DEFAULTS.limits };
  if (raw === undefined) return out;
  const r = checkShape(LimitsShape, raw, ["hub", "limits"], fields(LimitsShape));
  p.push(...r.problems);
  for (const [k, max] of Object.entries(LIMIT_MAX) as [keyof Limits, number][]) {
    const v = r.value?.[k];
    if (v === undefined) continue;
    // A range of one port is a single port: below that a peer could expose nothing, which is forwardsPerPeer: 0.
    const min = k === "maxRangeWithoutAdmin" ? 1 : 0;
    if (v < min || v > max) p.add(["hub", "limits", k], `${v} is out of range; accepted: ${min}-${max}`);
    else out[k] = v;
  }
  return out;
}

const ports = (n: number) => (n === 1 ? "1 port" : `${n} ports`);

function checkPort(port: number, path: (string | number)[], p: Problems) {
  if (port < 1 || port > 65535) p.add(path, `${port} is out of range; accepted: 1-65535`);
}

/** Splits "host", "host:port", "[v6]:port" or a bare IPv6 address. */
function splitEndpoint(text: string): { host: string; port?: number } {
  const m =
    /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ??
    (text.split(":").length === 2 ? /^([^:]+):(\d+)$/.exec(text) : null);
  if (!m) return { host: text };
  return { host: m[1] as string, port: m[2] === undefined ? undefined : Number(m[2]) };
}

function endpointHost(host: string): string | undefined {
  const addr = parseAddr(host);
  if (addr) return addr.family === 6 ? `[${formatAddr(addr)}]` : formatAddr(addr);
  return HOST_RE.test(host) && !/^[\d.]+$/.test(host) ? host : undefined;
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address. */
export function parseEndpoint(text: string, defaultPort: number): Hub["endpoint"] | undefined {
  const { host, port = defaultPort } = splitEndpoint(text);
  if (port < 1 || port > 65535) return undefined;
  const h = endpointHost(host);
  return h === undefined ? undefined : { host: h, port };
}

/** Why parseEndpoint refused `text` (the text of a diagnostic, after the value). */
function endpointProblem(text: string): string {
  const { host, port } = splitEndpoint(text);
  if (endpointHost(host) !== undefined && port !== undefined && (port < 1 || port > 65535))
    return `has port ${port}, which is out of range; accepted: 1-65535`;
  return "is not a host name or IP address (with an optional :port)";
}

function checkPeers(
  hub: Hub,
  inputs: (ReturnType<typeof PeerShape.parse> | undefined)[],
  p: Problems,
): Peer[] {
  const names = new Map<string, number>();
  const keys = new Map<string, string>([[hub.publicKey, "hub.publicKey"]]);
  const explicit: (Addr | undefined)[] = [];
  const explicit6: (Addr | undefined)[] = [];
  const taken = new Map<bigint, string>([[hub.address.value, "hub.address"]]);
  const taken6 = new Map<bigint, string>(hub.address6 ? [[hub.address6.value, "hub.address6"]] : []);

  inputs.forEach((peer, i) => {
    if (!peer) return;
    const at = (f: string) => ["peers", i, f];
    if (!NAME_RE.test(peer.name))
      p.add(at("name"), `${show(peer.name)} is not a valid name; use ${NAME_RULE}`);
    else if (peer.name === hub.name) p.add(at("name"), `${show(peer.name)} is the hub's name; pick another`);
    else if (names.has(peer.name))
      p.add(at("name"), `${show(peer.name)} is already used by peers[${names.get(peer.name)}]`);
    else names.set(peer.name, i);

    const kp = keyProblem(peer.publicKey);
    if (kp) p.add(at("publicKey"), `${show(peer.publicKey)} ${kp}`);
    else if (keys.has(peer.publicKey))
      p.add(at("publicKey"), `is the same key as ${keys.get(peer.publicKey)}; each peer needs its own key`);
    else keys.set(peer.publicKey, `peers[${i}].publicKey`);

    const ka = peer.keepalive ?? DEFAULTS.keepalive;
    if (ka < 0 || ka > 65535)
      p.add(at("keepalive"), `${ka} is out of range; accepted: 0 (off) to 65535 seconds`);

    explicit[i] = claim(
      peer.address,
      hub.subnet,
      "hub.subnet",
      at("address"),
      taken,
      `peers[${i}].address`,
      p,
    );
    if (peer.address6 !== undefined && !hub.subnet6) p.add(at("address6"), "needs hub.subnet6");
    else if (hub.subnet6) {
      explicit6[i] = claim(
        peer.address6,
        hub.subnet6,
        "hub.subnet6",
        at("address6"),
        taken6,
        `peers[${i}].address6`,
        p,
      );
    }
  });

  const wanted = inputs.map((peer) => (peer && !peer.address ? peer.name : undefined));
  const allocated = allocateAddresses(hub.subnet, wanted, new Set(taken.keys()));
  const out: Peer[] = [];
  inputs.forEach((peer, i) => {
    if (!peer) return;
    const address = explicit[i] ?? allocated[i];
    if (!address) {
      if (!peer.address)
        p.add(["peers", i, "address"], `no free address left in ${formatCidr(hub.subnet)}; widen hub.subnet`);
      return;
    }
    let address6 = explicit6[i];
    if (hub.subnet6 && !address6 && !peer.address6) {
      address6 = addrAt(hub.subnet6, offsetIn(hub.subnet, address));
      const owner = taken6.get(address6.value);
      if (owner)
        p.add(
          ["peers", i, "address6"],
          `${formatAddr(address6)} (derived from ${formatAddr(address)}) is taken by ${owner}; set it explicitly`,
        );
    }
    out.push({
      name: peer.name,
      publicKey: peer.publicKey,
      address,
      address6,
      keepalive: peer.keepalive ?? DEFAULTS.keepalive,
      admin: peer.admin ?? false,
      kind: peer.kind ?? "agent",
    });
  });
  return out;
}

function claim(
  text: string | undefined,
  subnet: Cidr,
  what: string,
  path: (string | number)[],
  taken: Map<bigint, string>,
  owner: string,
  p: Problems,
): Addr | undefined {
  if (text === undefined) return undefined;
  const a = checkHostAddr(text, subnet, path, p, what);
  if (!a) return undefined;
  const prev = taken.get(a.value);
  if (prev) {
    p.add(path, `${show(text)} is already taken by ${prev}`);
    return undefined;
  }
  taken.set(a.value, owner);
  return a;
}

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
  reserved: { protos: Proto[]; range: PortRange; why: string }[];
  /**
   * The mode each target (peer, protocol, port) is sent with: key (slot * 2 + udp) * 65536 + port,
   * value forward index * 2 + transparent. Numbers, not strings: this runs once per target port.
   */
  modes: Map<number, number>;
  slots: Map<string, number>;
  /** allowFrom lists repeat the same few prefixes, and parsing one is not cheap. */
  cidrs: Map<string, Cidr | null>;
}

/** The public ports a forward may never take: the WireGuard port, SSH, and hub.reservedPorts, each with why. */
export function hubReservedPorts(hub: Hub): { protos: Proto[]; range: PortRange; why: string }[] {
  const one = (port: number): PortRange => ({ from: port, to: port });
  return [
    {
      protos: ["udp"],
      range: one(hub.listenPort),
      why: "the hub's WireGuard listen port; pick another public port",
    },
    {
      protos: ["tcp"],
      range: one(hub.sshPort),
      why: "the hub's SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)",
    },
    ...hub.reservedPorts.map((range) => ({
      protos: ["tcp", "udp"] as Proto[],
      range,
      why: `reserved for the hub's own services (hub.reservedPorts${range.from === range.to ? "" : `: ${formatRange(range)}`}); pick another public port`,
    })),
  ];
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
  if (!NAME_RE.test(f.name)) p.add(at("name"), `${show(f.name)} is not a valid name; use ${NAME_RULE}`);
  else if (seen.names.has(f.name))
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
  if (port.ok && target.ok && rangeLength(port.range) !== rangeLength(target.range)) {
    p.add(
      at("targetPort"),
      `${show(f.targetPort)} spans ${ports(rangeLength(target.range))} but port ${formatRange(port.range)} spans ${rangeLength(port.range)}; ranges map 1:1, so give one of equal length`,
    );
  }
  return { port, target };
}

/** A public port is none the hub keeps for itself (WireGuard, SSH, hub.reservedPorts). */
function checkReservedPorts(
  seen: ForwardsSeen,
  f: ForwardInput,
  range: PortRange,
  protos: Proto[],
  at: At,
  p: Problems,
): void {
  for (const r of seen.reserved) {
    if (!r.protos.some((x) => protos.includes(x)) || !overlaps(range, r.range)) continue;
    const first = Math.max(range.from, r.range.from);
    const verb = range.from === range.to ? "is" : `includes ${first},`;
    p.add(at("port"), `${show(f.port)} ${verb} ${r.why}`);
  }
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
function checkAllowList(seen: ForwardsSeen, f: ForwardInput, i: number, p: Problems): Cidr[] {
  const allowFrom: Cidr[] = [];
  (f.allowFrom ?? []).forEach((text, j) => {
    let c = seen.cidrs.get(text);
    if (c === undefined) {
      c = parseCidr(text);
      seen.cidrs.set(text, c);
    }
    if (!c)
      p.add(
        ["forwards", i, "allowFrom", j],
        `${show(text)} is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32`,
      );
    else if (!isNetworkAddress(c)) p.add(["forwards", i, "allowFrom", j], hostBits(text, c));
    else allowFrom.push(c);
  });
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
function checkForwards(
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
      checkReservedPorts(seen, f, port.range, protos, at, p);
      checkPortClaims(seen, i, port.range, protos, at, p);
    }
    const mode = f.mode ?? "snat";
    const peer = checkForwardPeer(seen, f, mode, at, p);
    const allowFrom = checkAllowList(seen, f, i, p);
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
