// An existing hub's wg-quick config (like the blog post's) -> a porthole spec. Reads what wg-quick
// reads (every Address and AllowedIPs line, comma lists, inline comments), keeps every peer's address,
// turns PostUp DNAT rules into forwards, and lists everything it cannot carry. Never copies a private key.
import { stringify } from "yaml";
import {
  addrAt,
  type Cidr,
  contains,
  formatAddr,
  formatCidr,
  hostRange,
  isUla,
  networkOf,
  parseCidr,
} from "../net/ip.ts";
import { portValue } from "../net/ports.ts";
import { publicKeyOf } from "../net/wgkey.ts";
import { forwardName, NAME_RE } from "./defaults.ts";
import { classifyHook, type Dnat, splitHook } from "./wgquick-hooks.ts";
import { lastValue, listValues, peerNameOf, readWgQuick, type Section } from "./wgquick-read.ts";

export interface ImportResult {
  /** The spec, with the notes as comments at its top. */
  yaml: string;
  /** One line each: what the user must fill in, and everything the spec does not carry. */
  notes: string[];
}

const IFNAME_RE = /^[A-Za-z0-9_=+.-]{1,15}$/;

// Interface keys porthole carries; the others are listed.
const CARRIED_INTERFACE = new Set(["address", "listenport", "privatekey", "mtu", "postup", "postdown"]);
const CARRIED_PEER = new Set(["publickey", "allowedips", "persistentkeepalive"]);

/**
 * `text` is the config; `interfaceName` the tunnel's name (wg-quick takes it from the file name:
 * wg0.conf -> wg0), used for `%i` in hooks and written as hub.interface when not wg0.
 * Errors: throws when there is no [Interface] or it has no IPv4 Address with a prefix.
 */
export function importWgQuick(
  text: string,
  opts: { endpoint?: string; interfaceName?: string } = {},
): ImportResult {
  const notes: string[] = [];
  const all = readWgQuick(text);
  const iface = all.find((s) => s.kind === "interface");
  if (!iface) throw new Error("no [Interface] section: is this a wg-quick config?");
  const tunnel = opts.interfaceName && IFNAME_RE.test(opts.interfaceName) ? opts.interfaceName : "wg0";
  if (opts.interfaceName && tunnel !== opts.interfaceName)
    notes.push(
      `${JSON.stringify(opts.interfaceName)} is not an interface name (1-15 letters, digits, _=+.-); the tunnel is wg0`,
    );
  for (const e of iface.entries)
    if (!CARRIED_INTERFACE.has(e.key) && e.value)
      notes.push(`line ${e.line}: [Interface] ${e.name} = ${e.value} is not carried`);

  const { hub, v4, v6 } = hubOf(iface, opts.endpoint, tunnel, notes);
  const peers = peersOf(
    all.filter((s) => s.kind === "peer"),
    v4,
    v6,
    notes,
  );
  const forwards = forwardsOf(iface, tunnel, peers, hub, notes);
  const spec = {
    version: 1,
    hub,
    peers: peers.map(({ address4: _, ...p }) => p),
    ...(forwards.length ? { forwards } : {}),
  };
  const header = ["Imported from a wg-quick config by porthole.", ...notes].map((l) => `# ${l}\n`).join("");
  return { yaml: `${header}${stringify(spec)}`, notes };
}

function hubOf(iface: Section, endpoint: string | undefined, tunnel: string, notes: string[]) {
  const cidrs = listValues(iface, "address").map((a) => ({ text: a, cidr: parseCidr(a) }));
  const v4 = cidrs.find((c) => c.cidr?.family === 4 && c.cidr.prefix < 32)?.cidr;
  if (!v4) throw new Error("[Interface] Address has no IPv4 address with a prefix, like 10.8.0.1/24");
  const first6 = cidrs.find((c) => c.cidr?.family === 6 && c.cidr.prefix < 128);
  const v6 = first6?.cidr && isUla(first6.cidr) && first6.cidr.prefix <= 120 ? first6.cidr : undefined;
  if (first6 && !v6)
    notes.push(
      `[Interface] Address ${first6.text} is not carried: porthole's hub.subnet6 must be a private (ULA, fc00::/7) prefix of /120 or larger`,
    );
  for (const c of cidrs)
    if (c.cidr !== v4 && c !== first6)
      notes.push(
        `[Interface] Address ${c.text} is not carried: porthole's hub has one IPv4 address (and one IPv6)`,
      );
  const hub: Record<string, unknown> = {
    endpoint: endpoint ?? "CHANGE-ME.example.com",
    listenPort: Number(lastValue(iface, "listenport") ?? 51820),
  };
  if (!endpoint) notes.unshift("hub.endpoint: set it to the VPS's public name or address (--endpoint)");
  const priv = lastValue(iface, "privatekey");
  if (priv) hub.publicKey = publicKeyOf(priv);
  else notes.unshift("hub.publicKey: the config has no PrivateKey; fill in the hub's public key");
  if (tunnel !== "wg0") {
    hub.interface = tunnel;
    notes.push(
      `hub.interface: ${tunnel}, from the config's file name as wg-quick names it (--interface to choose another)`,
    );
  }
  hub.subnet = formatCidr({ ...v4, base: networkOf(v4) });
  hub.address = formatAddr({ family: 4, value: v4.base });
  if (v6) {
    hub.subnet6 = formatCidr({ ...v6, base: networkOf(v6) });
    hub.address6 = formatAddr({ family: 6, value: v6.base });
  }
  const mtu = lastValue(iface, "mtu");
  if (mtu) hub.mtu = Number(mtu);
  return { hub, v4, v6 };
}

interface ImportedPeer {
  name: string;
  publicKey: string;
  address?: string;
  address6?: string;
  keepalive?: number;
  address4: bigint;
}

function peersOf(sections: Section[], v4: Cidr, v6: Cidr | undefined, notes: string[]): ImportedPeer[] {
  const names = new Set<string>();
  const taken = new Set<bigint>([v4.base]);
  const found = sections.map((s, i) => {
    const name = uniqueName(slug(peerNameOf(s)) ?? `peer${i + 1}`, names);
    const publicKey = lastValue(s, "publickey") ?? "";
    let address: bigint | undefined;
    let address6: string | undefined;
    for (const text of listValues(s, "allowedips")) {
      const c = parseCidr(text);
      const host4 = c?.family === 4 && c.prefix === 32 && contains(v4, { family: 4, value: c.base });
      const host6 = c?.family === 6 && c.prefix === 128 && v6 && contains(v6, { family: 6, value: c.base });
      if (host4 && address === undefined) address = (c as Cidr).base;
      else if (host6 && address6 === undefined) address6 = formatAddr({ family: 6, value: (c as Cidr).base });
      else
        notes.push(
          `peer ${name}: AllowedIPs ${text} is not carried: a porthole peer routes only its own tunnel address (a LAN behind a peer is not supported yet)`,
        );
    }
    for (const e of s.entries) {
      if (e.key === "presharedkey")
        notes.push(
          `peer ${name}: PresharedKey is not carried: porthole does not manage preshared keys yet; remove it from ${name}'s own config too, or its handshakes with the hub fail`,
        );
      else if (e.key === "endpoint")
        notes.push(
          `peer ${name}: Endpoint ${e.value} is not carried: the hub learns each peer's endpoint from its handshakes`,
        );
      else if (!CARRIED_PEER.has(e.key) && e.value)
        notes.push(`line ${e.line}: peer ${name}: ${e.name} = ${e.value} is not carried`);
    }
    if (address !== undefined) taken.add(address);
    const ka = lastValue(s, "persistentkeepalive");
    return { name, publicKey, address, address6, keepalive: ka && ka !== "off" ? Number(ka) : undefined };
  });
  // A peer without an address in the subnet gets the lowest free one, written out so it never moves.
  const { first, last } = hostRange(v4);
  return found.map((p) => {
    let address = p.address;
    if (address === undefined) {
      for (let off = first; off <= last && address === undefined; off++) {
        const a = addrAt(v4, off).value;
        if (!taken.has(a)) address = a;
      }
      taken.add(address as bigint);
      notes.push(
        `peer ${p.name}: AllowedIPs has no address in ${formatCidr({ ...v4, base: networkOf(v4) })}; given ${formatAddr({ family: 4, value: address as bigint })}`,
      );
    }
    return {
      name: p.name,
      publicKey: p.publicKey,
      address: formatAddr({ family: 4, value: address as bigint }),
      ...(p.address6 ? { address6: p.address6 } : {}),
      ...(p.keepalive !== undefined ? { keepalive: p.keepalive } : {}),
      address4: address as bigint,
    };
  });
}

function forwardsOf(
  iface: Section,
  tunnel: string,
  peers: ImportedPeer[],
  hub: Record<string, unknown>,
  notes: string[],
): Record<string, unknown>[] {
  const byAddress = new Map(peers.map((p) => [p.address, p.name]));
  const dnats: Dnat[] = [];
  let snat = false;
  for (const key of ["postup", "postdown"]) {
    const hook = key === "postup" ? "PostUp" : "PostDown";
    for (const e of iface.entries.filter((x) => x.key === key)) {
      for (const words of splitHook(e.value.replaceAll("%i", tunnel))) {
        const h = classifyHook(words, tunnel);
        const up = key === "postup";
        if (h.kind === "dnat") {
          if (up) dnats.push(h.dnat);
        } else if (h.kind === "snat-into-tunnel") snat ||= up;
        else if (h.kind === "not-carried")
          notes.push(
            `line ${e.line}: ${hook} \`${words.join(" ")}\` is not carried${h.why ? `: ${h.why}` : ""}`,
          );
      }
    }
  }
  const ins = new Set(dnats.map((d) => d.inInterface));
  const inIface = ins.size === 1 ? [...ins][0] : undefined;
  if (inIface && inIface !== tunnel) hub.publicInterface = inIface;

  const out = new Map<string, Record<string, unknown>>();
  for (const d of dnats) {
    const peer = byAddress.get(d.toAddress);
    if (!peer) {
      notes.push(`PostUp DNAT to ${d.toAddress} is not carried: that address is no peer's tunnel address`);
      continue;
    }
    for (const port of d.ports) {
      const target = d.toPort ?? port;
      const key = `${peer}|${port}|${target}`;
      const prev = out.get(key);
      if (prev) {
        prev.proto = "tcp+udp";
        prev.name = forwardName(peer, "tcp+udp", port);
        continue;
      }
      out.set(key, {
        name: forwardName(peer, d.protos[0] as string, port),
        proto: d.protos[0],
        port: portValue(port),
        peer,
        targetPort: portValue(target),
      });
    }
  }
  if (out.size && !snat)
    notes.push(
      "the DNAT rules have no SNAT into the tunnel: imported as mode snat (peers see the hub's tunnel address); set mode: transparent to keep clients' addresses (it needs porthole on the peer)",
    );
  return [...out.values()];
}

function slug(raw: string | undefined): string | undefined {
  const s = raw
    ?.toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 32)
    .replace(/-+$/, "");
  return s && NAME_RE.test(s) ? s : undefined;
}

function uniqueName(base: string, names: Set<string>): string {
  let name = base;
  for (let n = 2; names.has(name); n++) name = `${base.slice(0, 29)}-${n}`;
  names.add(name);
  return name;
}
