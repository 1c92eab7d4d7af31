// Live numbers from the kernel: WireGuard peers, nftables element counters, conntrack entries.
import { OPEN_MARK } from "../plan/plan.ts";
import { run, runLines } from "./run.ts";
import type { Count, ElementCounter, WgDumpPeer } from "./types.ts";
import { dumpPeers } from "./wireguard.ts";

/** The interface's peers with their handshakes and byte counts; null when it does not exist. */
export async function wgPeerStats(iface: string): Promise<WgDumpPeer[] | null> {
  const r = await run(["wg", "show", iface, "dump"], { allowFail: true });
  return r.code === 0 ? dumpPeers(r.stdout) : null;
}

/** Per-element counters of a set or map in table inet porthole; null when it does not exist. */
export async function nftElementCounters(
  kind: "set" | "map",
  name: string,
): Promise<ElementCounter[] | null> {
  const r = await run(["nft", "-j", "list", kind, "inet", "porthole", name], { allowFail: true });
  return r.code === 0 ? parseNftCounters(r.stdout, kind) : null;
}

/** The counters in `nft -j list set|map` output. */
export function parseNftCounters(json: string, kind: "set" | "map"): ElementCounter[] {
  type Val = string | number | { concat: (string | number)[] };
  type Elem = { elem?: { val: Val; counter?: Count } };
  const out: ElementCounter[] = [];
  for (const item of (JSON.parse(json) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables) {
    for (const e of (item[kind]?.elem ?? []) as (Elem | unknown[])[]) {
      // map elements are [key, value] pairs; set elements are {elem: {val, counter}}
      const node = (Array.isArray(e) ? e[0] : e) as Elem;
      const val = node.elem?.val;
      const counter = node.elem?.counter;
      if (val === undefined || !counter) continue;
      const key = typeof val === "object" ? val.concat.join(" . ") : String(val);
      out.push({ key, packets: counter.packets, bytes: counter.bytes });
    }
  }
  return out;
}

/**
 * The packet and byte counters of the DNAT rules in porthole's iptables chain PORTHOLE-PREROUTING
 * (the nat table sees the first packet of a connection only: packets = connections), by "tcp . 80".
 */
export async function iptablesDnatCounters(family: 4 | 6): Promise<ElementCounter[] | null> {
  const save = family === 4 ? "iptables-save" : "ip6tables-save";
  const r = await run([save, "-c", "-t", "nat"], { allowFail: true });
  return r.code === 0 ? parseDnatCounters(r.stdout) : null;
}

/**
 * `[packets:bytes] -A PORTHOLE-PREROUTING ... -p tcp ... --dport 80 -j DNAT ...` lines, by "tcp . 80";
 * null when the chain is not declared (`:PORTHOLE-PREROUTING - [0:0]`): porthole's rules are not loaded.
 */
export function parseDnatCounters(save: string): ElementCounter[] | null {
  if (!/^:PORTHOLE-PREROUTING /m.test(save)) return null;
  const out: ElementCounter[] = [];
  for (const m of save.matchAll(
    /^\[(\d+):(\d+)\] -A PORTHOLE-PREROUTING .*?-p (tcp|udp) .*?--dport (\d+) .*-j DNAT/gm,
  ))
    out.push({ key: `${m[3]} . ${m[4]}`, packets: Number(m[1]), bytes: Number(m[2]) });
  return out;
}

/**
 * Connections open now whose destination was rewritten (DNAT), counted by
 * "proto/public port/target address/target port": TCP connections from the handshake's end to their
 * first FIN or RST (conntrack state ESTABLISHED, not closing or TIME_WAIT), and every UDP flow conntrack
 * tracks, of the given protocols. The hub's ruleset marks exactly these with OPEN_MARK and conntrack
 * asks the kernel for marked entries only, so the cost grows with the open forwarded connections, not
 * with the table; lines are counted as they stream by. null: conntrack is not installed or failed.
 */
export async function openConnections(
  families: (4 | 6)[],
  protos: ("tcp" | "udp")[],
): Promise<Map<string, number> | null> {
  const counts = new Map<string, number>();
  const onLine = (line: string) => {
    const key = openConnectionKey(line);
    if (key && protos.includes(key.slice(0, 3) as "tcp" | "udp")) counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  const { established, closed } = OPEN_MARK;
  const mark = `0x${established.toString(16)}/0x${(established | closed).toString(16)}`;
  for (const f of families) {
    const argv = ["conntrack", "-L", "-f", f === 4 ? "ipv4" : "ipv6", "--mark", mark];
    if ((await runLines(argv, onLine)) !== 0) return null;
  }
  return counts;
}

/**
 * "tcp/80/10.8.0.2/8080" for a conntrack -L line of a DNAT'd connection (tcp to public port 80, really
 * going to 10.8.0.2:8080); null for any other line.
 */
export function openConnectionKey(line: string): string | null {
  const proto = line.slice(0, 3);
  if (proto !== "tcp" && proto !== "udp") return null;
  // The original direction's fields come first, then the reply direction's: the first dst= and dport=,
  // the second src= and sport=. Found with indexOf, not split: status reads tens of thousands of lines.
  const origDst = field(line, " dst=", 0);
  const origDport = field(line, " dport=", 0);
  const firstSrc = line.indexOf(" src=");
  const firstSport = line.indexOf(" sport=");
  if (firstSrc < 0 || firstSport < 0) return null;
  const replySrc = field(line, " src=", firstSrc + 1);
  const replySport = field(line, " sport=", firstSport + 1);
  if (!replySrc || !origDport || !replySport || replySrc === origDst) return null;
  return `${proto}/${origDport}/${replySrc}/${replySport}`;
}

/** The value of the first ` name=value` at or after `from` ("" when there is none). */
function field(line: string, name: string, from: number): string {
  const at = line.indexOf(name, from);
  if (at < 0) return "";
  const start = at + name.length;
  const end = line.indexOf(" ", start);
  return line.slice(start, end < 0 ? line.length : end);
}
