// One line of `nft monitor trace` as data. The lines look like (nft 1.0.x):
//   trace id 4ca42f9b inet porthole prerouting packet: iif "ens3" … ip saddr 203.0.113.2 … tcp dport 80 …
//   trace id 4ca42f9b inet porthole prerouting rule iifname "ens3" … dnat ip to … (verdict accept)
//   trace id 4ca42f9b inet porthole gate policy accept
//   trace id 4ca42f9b inet porthole into_tunnel verdict continue
// One packet's events share the id, but the kernel reuses ids (it hashes the buffer's address), so
// packets.ts decides where one packet ends and the next begins.

/** Where the packet is, from a `packet:` line (the headers as this chain saw them). */
export interface PacketHeaders {
  iif?: string;
  oif?: string;
  family: 4 | 6;
  proto?: string;
  saddr?: string;
  daddr?: string;
  sport?: number;
  dport?: number;
  /** TCP flags as names, upper case (["SYN"], ["SYN", "ACK"]); absent for other protocols. */
  flags?: string[];
}

interface Base {
  id: string;
  /** "inet", "ip", "ip6", … */
  family: string;
  table: string;
  chain: string;
}

export type TraceEvent =
  | (Base & { kind: "packet"; headers: PacketHeaders })
  /** A rule matched; verdict is "accept", "drop", "continue", "goto X", "jump X", "return", "queue"… */
  | (Base & { kind: "rule"; rule: string; verdict: string })
  /** A base chain ended by its policy ("accept" or "drop"). */
  | (Base & { kind: "policy"; verdict: string })
  /** A regular chain ended without a verdict (back to its caller), or a base chain returned. */
  | (Base & { kind: "return"; verdict: string });

const HEAD = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict )(.*)$/;
// nft adds the packet mark after some events: "… (verdict accept) meta mark 0x00000001".
const MARK = / meta mark 0x[0-9a-f]+\s*$/;

/** One line of `nft monitor trace`, or null for anything else (blank lines, nft's notices). */
export function parseTraceLine(line: string): TraceEvent | null {
  const m = HEAD.exec(line.trimEnd());
  if (!m) return null;
  const [, id, family, table, chain, what, rest] = m as unknown as string[];
  const base = { id, family, table, chain } as Base;
  const body = (rest as string).replace(MARK, "").trim();
  switch (what) {
    case "packet: ":
      return { ...base, kind: "packet", headers: parseHeaders(body) };
    case "rule ": {
      const v = /^(.*) \(verdict ([^)]+)\)$/.exec(body);
      return v
        ? { ...base, kind: "rule", rule: v[1] as string, verdict: v[2] as string }
        : { ...base, kind: "rule", rule: body, verdict: "continue" };
    }
    case "policy ":
      return { ...base, kind: "policy", verdict: body };
    default:
      return { ...base, kind: "return", verdict: body };
  }
}

const FLAG_BITS: [number, string][] = [
  [0x02, "SYN"],
  [0x01, "FIN"],
  [0x04, "RST"],
  [0x08, "PSH"],
  [0x10, "ACK"],
  [0x20, "URG"],
  [0x40, "ECE"],
  [0x80, "CWR"],
];

/** "syn", "0x12", "syn | ack", "fin,ack" → ["SYN", "ACK"] (in the order SYN FIN RST PSH ACK …). */
export function tcpFlags(text: string): string[] {
  let bits = 0;
  for (const part of text.split(/[\s|,]+/).filter(Boolean)) {
    if (/^0x[0-9a-f]+$/i.test(part)) bits |= Number.parseInt(part, 16);
    else {
      const known = FLAG_BITS.find(([, n]) => n === part.toUpperCase());
      if (known) bits |= known[0];
    }
  }
  return FLAG_BITS.filter(([b]) => bits & b).map(([, n]) => n);
}

/** The headers nft prints after `packet:` (link, network, transport), read by keyword. */
export function parseHeaders(text: string): PacketHeaders {
  const word = (re: RegExp) => re.exec(text)?.[1];
  const family = / ip6 (saddr|daddr|nexthdr) /.test(` ${text} `) ? 6 : 4;
  const ip = family === 6 ? "ip6" : "ip";
  // iptables-nft's chains print no "ip protocol": the transport header's keyword says it then.
  const proto =
    word(family === 6 ? /\bip6 nexthdr (\S+)/ : /\bip protocol (\S+)/) ??
    word(/\b(tcp|udp|sctp|dccp) (?:sport|dport) \d/);
  const h: PacketHeaders = { family };
  const iif = word(/\biif "?([^"\s]+)"?/);
  const oif = word(/\boif "?([^"\s]+)"?/);
  if (iif) h.iif = iif;
  if (oif) h.oif = oif;
  if (proto) h.proto = proto;
  const saddr = word(new RegExp(`\\b${ip} saddr (\\S+)`));
  const daddr = word(new RegExp(`\\b${ip} daddr (\\S+)`));
  if (saddr) h.saddr = saddr;
  if (daddr) h.daddr = daddr;
  if (proto) {
    const sport = word(new RegExp(`\\b${proto} sport (\\d+)`));
    const dport = word(new RegExp(`\\b${proto} dport (\\d+)`));
    if (sport) h.sport = Number(sport);
    if (dport) h.dport = Number(dport);
  }
  const flags = /\btcp flags == (.+?)(?= tcp | [a-z0-9]+ [a-z]+ |$)/.exec(text)?.[1];
  if (proto === "tcp" && flags) h.flags = tcpFlags(flags);
  return h;
}
