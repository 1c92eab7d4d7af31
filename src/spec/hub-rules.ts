// The hub section's rules: ports, endpoint, key, interfaces, MTU, the tunnel subnets and the hub's address
// in them, limits and the metrics listener.
import {
  type Addr,
  addrAt,
  type Cidr,
  contains,
  formatCidr,
  hostRange,
  isUla,
  offsetIn,
  parseAddr,
  parseCidr,
} from "../net/ip.ts";
import { type PortRange, parsePortRange } from "../net/ports.ts";
import { keyProblem } from "../net/wgkey.ts";
import { DEFAULTS, IFNAME_RE, LIMIT_MAX } from "./defaults.ts";
import { type Problems, show } from "./diagnostics.ts";
import { endpointProblem, parseEndpoint } from "./endpoint.ts";
import { HubShape, LimitsShape } from "./schema.ts";
import { checkShape, STAND_IN_KEY } from "./shape.ts";
import type { Hub, Limits } from "./types.ts";
import { checkCidr, checkHostAddr, checkName, checkPort, cidrProblem } from "./value-rules.ts";

/** Why `name` is not a Linux interface name (hub.interface), or undefined. */
export function interfaceProblem(name: string): string | undefined {
  return IFNAME_RE.test(name)
    ? undefined
    : "is not an interface name; use 1-15 letters, digits, '_', '.', '-'";
}

/** Why `name` is not "auto" or an interface name (hub.publicInterface), or undefined. */
export function publicInterfaceProblem(name: string): string | undefined {
  if (name === "auto" || IFNAME_RE.test(name)) return undefined;
  return 'is not an interface name; use "auto" or a name like ens3';
}

/** Why `mtu` is not a tunnel MTU (hub.mtu), or undefined. */
export function mtuProblem(mtu: number): string | undefined {
  return mtu < 1280 || mtu > 9000 ? "is out of range; accepted: 1280-9000" : undefined;
}

const overlap = (a: Cidr, b: Cidr) =>
  contains(a, { family: b.family, value: b.base }) || contains(b, { family: a.family, value: a.base });
/**
 * Prefixes neither the tunnel's subnet nor a SNAT pool may touch (every peer routes both into its
 * tunnel): this network, loopback, link-local, multicast, the broadcast address.
 */
const SPECIAL_RANGES = [
  "0.0.0.0/8",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "224.0.0.0/4",
  "255.255.255.255/32",
].map((t) => parseCidr(t) as Cidr);

/** Why `text` is not the hub's IPv4 tunnel subnet (hub.subnet: a prefix of /30 or larger), or undefined. */
export function subnetProblem(text: string): string | undefined {
  const why = cidrProblem(text, "10.8.0.0/24");
  if (why) return why;
  const c = parseCidr(text) as Cidr;
  if (c.family !== 4) return "is not IPv4; put IPv6 in hub.subnet6";
  if (c.prefix > 30) return "is too small for a hub and peers; accepted: a prefix of /30 or larger";
  // Every peer routes the subnet into its tunnel: loopback, link-local or multicast there breaks the peer.
  const special = SPECIAL_RANGES.find((x) => overlap(c, x));
  return special
    ? `overlaps ${formatCidr(special)} (not a unicast range a peer routes); use a private prefix like 10.8.0.0/24`
    : undefined;
}

/**
 * Why `text` is not a SNAT pool (hub.snatPool: an IPv4 prefix /4 to /24, outside `subnet` and the
 * special-purpose ranges of SPECIAL_RANGES, or "off"), or undefined. `subnet`: the tunnel's, when valid.
 */
export function snatPoolProblem(text: string, subnet?: Cidr): string | undefined {
  const example = DEFAULTS.snatPool;
  if (text === "off") return undefined;
  const why = cidrProblem(text, `${example} (or "off")`);
  if (why) return why;
  const c = parseCidr(text) as Cidr;
  if (c.family !== 4) return `is not IPv4; accepted: an IPv4 prefix /4 to /24, like ${example}`;
  if (c.prefix < 4 || c.prefix > 24)
    return `is out of range; accepted: a prefix /4 to /24 (a client's low bits pick its address), like ${example}`;
  if (subnet && overlap(c, subnet))
    return `overlaps hub.subnet ${formatCidr(subnet)}; use a prefix outside the tunnel's, like ${example}`;
  const special = SPECIAL_RANGES.find((x) => overlap(c, x));
  if (special)
    return `overlaps ${formatCidr(special)} (not a unicast range a peer routes); use a prefix like ${example}`;
  return undefined;
}

/**
 * Why `pool` may not be the SNAT pool of a hub reached at `host` (hub.endpoint's host: a name or an
 * address), or undefined: it holds that address. Every agent peer routes the pool into its tunnel, so
 * the tunnel's own packets would go into the tunnel, and the peer would never hear of a fix.
 */
export function poolEndpointProblem(pool: Cidr, host: string): string | undefined {
  return endpointInside(pool, host, DEFAULTS.snatPool);
}

/**
 * Why `subnet` may not be the tunnel's subnet of a hub reached at `host`, or undefined: it holds that
 * address. Every peer routes the subnet into its tunnel (its AllowedIPs), so the tunnel's own packets
 * to the hub would go into the tunnel, as with a SNAT pool holding it (poolEndpointProblem).
 */
export function subnetEndpointProblem(subnet: Cidr, host: string): string | undefined {
  return endpointInside(
    subnet,
    host,
    DEFAULTS.subnet === formatCidr(subnet) ? "10.9.0.0/24" : DEFAULTS.subnet,
  );
}

/** `range` holds the endpoint's address (a name is not judged: it is resolved elsewhere). */
function endpointInside(range: Cidr, host: string, example: string): string | undefined {
  const a = parseAddr(host);
  if (!a || !contains(range, a)) return undefined;
  return `holds the hub's endpoint ${host}, which the peers would route into the tunnel; use a prefix outside it, like ${example}`;
}

/**
 * The IPv6 SNAT pool inside `subnet6` (/64 or larger; else none): its last 1/65536, prefix + 16, which
 * holds no allocated address (those follow the IPv4 offsets, at its start).
 */
export function pool6Of(subnet6: Cidr): Cidr | undefined {
  if (subnet6.prefix > 64) return undefined;
  const shift = BigInt(128 - subnet6.prefix - 16);
  return { family: 6, base: subnet6.base | (0xffffn << shift), prefix: subnet6.prefix + 16 };
}

/** The diagnostic of an explicit IPv6 address inside the derived IPv6 SNAT pool (after the field's path). */
export const inPool6 = (text: string, pool6: Cidr) =>
  `${show(text)} is in ${formatCidr(pool6)}, where the hub maps IPv6 snat clients (hub.snatPool); pick an address outside it`;

// Stand-ins for a hub subnet or address whose problem is already reported (see checkHub).
const ANY4: Cidr = { family: 4, base: 0n, prefix: 0 };
const ANY6: Cidr = { family: 6, base: 0n, prefix: 0 };
const NOWHERE4: Addr = { family: 4, value: -1n };
const NOWHERE6: Addr = { family: 6, value: -1n };

/** The hub section, defaults filled in; undefined only when its shape is unusable. */
export function checkHub(raw: unknown, p: Problems): Hub | undefined {
  const r = checkShape(HubShape, raw, ["hub"], {
    endpoint: "invalid.invalid",
    publicKey: STAND_IN_KEY,
  });
  p.push(...r.problems);
  const h = r.value;
  if (!h) return undefined;
  const at = (f: string) => ["hub", f];

  const name = h.name ?? "hub";
  checkName(name, at("name"), p);
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
  const ifaceWhy = interfaceProblem(iface);
  if (ifaceWhy) p.add(at("interface"), `${show(iface)} ${ifaceWhy}`);
  const pub = h.publicInterface ?? "auto";
  const pubWhy = publicInterfaceProblem(pub);
  if (pubWhy) {
    p.add(at("publicInterface"), `${show(pub)} ${pubWhy}`);
  } else if (pub === iface) {
    p.add(
      at("publicInterface"),
      `${show(pub)} is the WireGuard interface; name the interface facing the internet`,
    );
  }
  const mtu = h.mtu ?? DEFAULTS.mtu;
  const mtuWhy = mtuProblem(mtu);
  if (mtuWhy) p.add(at("mtu"), `${show(mtu)} ${mtuWhy}`);

  const subnet = checkCidr(h.subnet, DEFAULTS.subnet, at("subnet"), p, "10.8.0.0/24");
  // The prefix's own problems are reported by checkCidr; then IPv4 and its size.
  const subnetWhy = subnet && subnetProblem(h.subnet ?? DEFAULTS.subnet);
  if (subnetWhy) p.add(at("subnet"), `${show(h.subnet)} ${subnetWhy}`);
  const holdsEndpoint = subnet && !subnetWhy && endpoint && subnetEndpointProblem(subnet, endpoint.host);
  if (holdsEndpoint) p.add(at("subnet"), `${show(h.subnet ?? DEFAULTS.subnet)} ${holdsEndpoint}`);
  const subnet6 = checkCidr(h.subnet6, undefined, at("subnet6"), p, "fd00:8::/64");
  if (subnet6 && (!isUla(subnet6) || subnet6.prefix > 120)) {
    p.add(
      at("subnet6"),
      `${show(h.subnet6)} is not accepted; use a private (ULA) prefix inside fc00::/7, /120 or larger, like fd00:8::/64`,
    );
  }
  if (h.address6 !== undefined && !h.subnet6) p.add(at("address6"), "needs hub.subnet6");
  const poolWhy = h.snatPool === undefined ? undefined : snatPoolProblem(h.snatPool, subnet);
  if (poolWhy) p.add(at("snatPool"), `${show(h.snatPool)} ${poolWhy}`);
  const snatPool = poolWhy ? undefined : (parseCidr(h.snatPool ?? "off") ?? undefined);
  const endpointWhy = snatPool && endpoint && poolEndpointProblem(snatPool, endpoint.host);
  if (endpointWhy) p.add(at("snatPool"), `${show(h.snatPool)} ${endpointWhy}`);
  const snatPool6 = snatPool && subnet6 ? pool6Of(subnet6) : undefined;
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
    if (h.address6 && snatPool6 && contains(snatPool6, address6))
      p.add(at("address6"), inPool6(h.address6, snatPool6));
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
    snatPool,
    snatPool6,
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
  const r = checkShape(LimitsShape, raw, ["hub", "limits"]);
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
