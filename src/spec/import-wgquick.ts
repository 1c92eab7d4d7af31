// An existing hub's wg-quick config (like the blog post's) -> a porthole spec. Reads the
// [Interface] and [Peer] sections, and DNAT rules found in PostUp lines; never copies the private key.
import { stringify } from "yaml";
import { formatCidr, networkOf, parseCidr } from "../net/ip.ts";
import { publicKeyOf } from "../net/wgkey.ts";

interface Section {
  kind: string;
  comment?: string;
  values: [string, string][];
}

function sections(text: string): Section[] {
  const out: Section[] = [];
  let pendingComment: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("#")) {
      pendingComment = line.replace(/^#+\s*/, "");
      continue;
    }
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      out.push({ kind: (head[1] as string).toLowerCase(), comment: pendingComment, values: [] });
    } else {
      const eq = line.indexOf("=");
      if (eq > 0 && out.length)
        (out.at(-1) as Section).values.push([
          line.slice(0, eq).trim().toLowerCase(),
          line.slice(eq + 1).trim(),
        ]);
    }
    pendingComment = undefined;
  }
  return out;
}

const get = (s: Section, key: string) => s.values.filter(([k]) => k === key).map(([, v]) => v);

export interface ImportResult {
  yaml: string;
  warnings: string[];
}

export function importWgQuick(text: string, opts: { endpoint?: string; name?: string } = {}): ImportResult {
  const warnings: string[] = [];
  const all = sections(text);
  const iface = all.find((s) => s.kind === "interface");
  if (!iface) throw new Error("no [Interface] section: is this a wg-quick config?");
  const addr = get(iface, "address")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim());
  const v4 = addr.map(parseCidr).find((c) => c?.family === 4);
  if (!v4) throw new Error("[Interface] Address has no IPv4 address with a prefix, like 10.8.0.1/24");
  const hub: Record<string, unknown> = {
    endpoint: opts.endpoint ?? "CHANGE-ME.example.com",
    listenPort: Number(get(iface, "listenport")[0] ?? 51820),
  };
  if (!opts.endpoint) warnings.push("hub.endpoint: set it to the VPS's public name or address (--endpoint)");
  const priv = get(iface, "privatekey")[0];
  if (priv) hub.publicKey = publicKeyOf(priv);
  else warnings.push("hub.publicKey: the config has no PrivateKey; fill in the hub's public key");
  hub.subnet = formatCidr({ ...v4, base: networkOf(v4) });
  hub.address = formatCidr({ ...v4, prefix: 32 }).replace(/\/32$/, "");
  const mtu = get(iface, "mtu")[0];
  if (mtu) hub.mtu = Number(mtu);

  const peers: Record<string, unknown>[] = [];
  const byAddress = new Map<string, string>();
  all
    .filter((s) => s.kind === "peer")
    .forEach((s, i) => {
      const ips = (get(s, "allowedips")[0] ?? "").split(",").map((v) => v.trim());
      const host = ips.map(parseCidr).find((c) => c?.family === 4 && c.prefix === 32);
      const name = slug(s.comment) ?? `peer${i + 1}`;
      const peer: Record<string, unknown> = { name, publicKey: get(s, "publickey")[0] };
      if (host) {
        peer.address = formatCidr(host).replace(/\/32$/, "");
        byAddress.set(peer.address as string, name);
      } else
        warnings.push(
          `peer ${name}: AllowedIPs ${ips.join(", ")} has no single /32; its address will be allocated`,
        );
      const ka = get(s, "persistentkeepalive")[0];
      if (ka) peer.keepalive = Number(ka);
      peers.push(peer);
    });

  const forwards = dnatRules(get(iface, "postup"), byAddress, warnings);
  const spec = { version: 1, hub, peers, ...(forwards.length ? { forwards } : {}) };
  return { yaml: `# Imported from a wg-quick config by porthole.\n${stringify(spec)}`, warnings };
}

function slug(comment: string | undefined): string | undefined {
  const s = comment
    ?.toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 32);
  return s || undefined;
}

// `iptables -t nat -A PREROUTING ... -p tcp --dport 80 -j DNAT --to-destination 10.8.0.2:8080`
function dnatRules(
  postUp: string[],
  byAddress: Map<string, string>,
  warnings: string[],
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const cmd of postUp.flatMap((l) => l.split(";"))) {
    const m =
      /-p\s+(tcp|udp)\b.*--dport\s+(\d+(?::\d+)?).*-j\s+DNAT\s+--to-destination\s+([\d.]+):(\d+(?:-\d+)?)/.exec(
        cmd,
      );
    if (!m) continue;
    const [, proto, port, addr, target] = m as unknown as string[];
    const peer = byAddress.get(addr as string);
    if (!peer) {
      warnings.push(`PostUp DNAT to ${addr} matches no peer; skipped`);
      continue;
    }
    const publicPort = (port as string).replace(":", "-");
    out.push({
      name: `${peer}-${proto}-${publicPort}`,
      proto,
      port: /^\d+$/.test(publicPort) ? Number(publicPort) : publicPort,
      peer,
      targetPort: /^\d+$/.test(target as string) ? Number(target) : target,
    });
  }
  return out;
}
