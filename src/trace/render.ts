// A traced packet as text: where it came in, each base chain with its verdict and the rule that gave
// it, the DNAT and SNAT (by which rule, or by conntrack for a flow's later packets), and how it ended.
import type { PacketHeaders } from "./events.ts";
import type { ChainVisit, PacketEnd, TracedPacket } from "./packets.ts";

const XTABLES = new Set(["filter", "nat", "mangle", "raw", "security"]);

/**
 * A chain named as `status` and `apply` name other owners' chains: "nft table inet firewalld chain
 * filter_FORWARD", "iptables-nft filter FORWARD"; porthole's own as "porthole's chain forward".
 */
export function chainName(v: Pick<ChainVisit, "family" | "table" | "chain">): string {
  if (v.family === "inet" && v.table === "porthole") return `porthole's chain ${v.chain}`;
  if ((v.family === "ip" || v.family === "ip6") && XTABLES.has(v.table) && /^[A-Z]+$/.test(v.chain))
    return `${v.family === "ip" ? "iptables" : "ip6tables"}-nft ${v.table} ${v.chain}`;
  return `nft table ${v.family} ${v.table} chain ${v.chain}`;
}

/** Why porthole's own chains drop (compile/nftables.ts): the words a user needs. */
const OWN_DROPS: Record<string, string> = {
  gate: "its source address is not in the forward's allowFrom",
  into_tunnel: "it goes into the tunnel but is no forward's flow",
  out_of_tunnel: "it comes out of the tunnel and belongs to no flow a client started",
  input: "it is addressed to the hub's tunnel address from outside the tunnel",
};

const addr = (h: PacketHeaders, side: "s" | "d") => {
  const a = side === "s" ? h.saddr : h.daddr;
  const p = side === "s" ? h.sport : h.dport;
  if (a === undefined) return "?";
  const host = h.family === 6 ? `[${a}]` : a;
  return p === undefined ? host : `${host}:${p}`;
};

/** "tcp 203.0.113.2:50748 → 203.0.113.1:80 SYN" */
export function flowText(h: PacketHeaders): string {
  const flags = h.flags?.length ? ` ${h.flags.join("-")}` : "";
  return `${h.proto ?? "?"} ${addr(h, "s")} → ${addr(h, "d")}${flags}`;
}

// "ct status dnat" only matches a flow; "dnat ip to …", "dnat to …" and "redirect" translate.
const isDnat = (rule: string) => /\bdnat (ip6? )?to\b|\bredirect\b|-j DNAT\b/.test(rule);
// NETMAP (porthole's SNAT pool with iptables) has no nft translation: iptables-nft shows "xt target NETMAP".
const isSnat = (rule: string) =>
  /\bsnat (ip6? )?(prefix )?to\b|\bmasquerade\b|-j (SNAT|MASQUERADE|NETMAP)\b|\bxt target NETMAP\b/.test(
    rule,
  );

/** The headers at the end of the packet's path: where it left, else the last chain that saw it. */
function lastHeaders(p: TracedPacket): PacketHeaders {
  if (p.end.kind === "out" || p.end.kind === "local") return p.end.headers;
  return p.visits.at(-1)?.headers ?? p.first;
}

function verdictText(v: ChainVisit): string {
  if (v.verdict === null) return `${v.path.map((c) => ` → ${c}`).join("")}: no verdict seen`;
  const verdict = v.verdict === "drop" ? "DROP" : v.verdict;
  // The policy decided after the jumps returned; a rule decided in the last chain jumped to.
  if (v.by === "policy")
    return `: ${verdict} (policy${v.path.length ? `, after ${v.path.join(" → ")}` : ""})`;
  return `${v.path.map((c) => ` → ${c}`).join("")}: ${verdict}`;
}

/** What the NAT did to this packet between two headers, and who did it (a rule of `visits` or conntrack). */
function natNotes(p: TracedPacket): { dnat?: string; snat?: string; byConntrack: string[] } {
  const last = lastHeaders(p);
  const first = p.first;
  const dChanged = addr(first, "d") !== addr(last, "d");
  const sChanged = addr(first, "s") !== addr(last, "s") && p.end.kind === "out";
  const rules = p.visits.flatMap((v) => (v.by && v.by !== "policy" ? [v.by.rule] : []));
  const byConntrack: string[] = [];
  const out: { dnat?: string; snat?: string; byConntrack: string[] } = { byConntrack };
  if (dChanged) {
    out.dnat = addr(last, "d");
    if (!rules.some(isDnat)) byConntrack.push("DNAT");
  }
  if (sChanged) {
    out.snat = addr(last, "s");
    if (!rules.some(isSnat)) byConntrack.push("SNAT");
  }
  return out;
}

function endLines(p: TracedPacket, hint: string): string[] {
  const e: PacketEnd = p.end;
  switch (e.kind) {
    case "out":
      return [`out ${e.headers.oif ?? "?"}: ${flowText({ ...e.headers, flags: undefined })}`];
    case "local":
      return [`delivered to the hub itself (input, ${e.headers.iif ?? "?"}): no forward took it`];
    case "dropped": {
      const v = e.visit;
      const who = chainName(v);
      const why =
        v.table === "porthole" && v.family === "inet" ? OWN_DROPS[v.by === "policy" ? "" : v.chain] : "";
      return [
        v.by === "policy" ? `DROPPED by ${who} (policy drop)` : `DROPPED by ${who}${why ? `: ${why}` : ""}`,
      ];
    }
    case "unseen": {
      const v = p.visits.at(-1);
      const where = v ? `after ${v.hook ?? "the chain"} (${chainName(v)}: ${v.verdict ?? "no verdict"})` : "";
      return [`not seen again ${where}: no nftables rule dropped it and it did not leave; ${hint}`];
    }
  }
}

export interface RenderOptions {
  /** Also show the rules that matched and let the packet go on (counters, the MSS clamp). */
  verbose?: boolean;
  /**
   * What can take a packet outside nftables on this host, for a packet not seen again (e.g. "an
   * iptables-legacy rule (iptables-legacy -S), routing or rp_filter stopped it").
   */
  unseenHint?: string;
}

/** A rule as nft printed it, without iptables-nft's running counts (they change on every packet). */
const ruleText = (rule: string) => rule.replace(/\bcounter packets \d+ bytes \d+/g, "counter").trim();

/** One packet as text, numbered `n` (lines joined with "\n", no trailing newline). */
export function renderPacket(p: TracedPacket, n: number, o: RenderOptions = {}): string {
  const first = p.first;
  const head = `#${n} ${p.direction === "reply" ? "reply " : ""}in ${first.iif ?? "(from the hub)"}: ${flowText(first)}`;
  const lines = [head];
  const nat = natNotes(p);
  const pad = (s: string) => s.padEnd(12);
  for (const v of p.visits) {
    let line = `   ${pad(v.hook ?? "?")} ${chainName(v)}${verdictText(v)}`;
    const rule = v.by && v.by !== "policy" ? v.by.rule : undefined;
    if (rule && isDnat(rule)) line += nat.dnat ? `, DNAT to ${nat.dnat}` : ", DNAT";
    if (rule && nat.snat && isSnat(rule)) line += `, SNAT to ${nat.snat}`;
    lines.push(line);
    if (o.verbose)
      for (const m of v.matched) lines.push(`   ${pad("")}   matched (${m.chain}): ${ruleText(m.rule)}`);
    if (rule) lines.push(`   ${pad("")}   rule: ${ruleText(rule)}`);
  }
  const ends = endLines(
    p,
    o.unseenHint ?? "something outside nftables (an iptables-legacy rule, routing, rp_filter) stopped it",
  );
  if (nat.byConntrack.length && p.end.kind !== "dropped")
    ends[0] +=
      p.direction === "reply"
        ? " (the flow's NAT reversed by conntrack)"
        : ` (${nat.byConntrack.join(" and ")} by conntrack, as for the flow's first packet)`;
  for (const l of ends) lines.push(`   ${l}`);
  return lines.join("\n");
}

/** One line per outcome for the end of a trace: "2 left by wg0", "1 dropped by …". */
export function summarize(packets: TracedPacket[]): string[] {
  const counts = new Map<string, number>();
  for (const p of packets) {
    const e = p.end;
    const key =
      e.kind === "out"
        ? `left by ${e.headers.oif ?? "?"}${p.direction === "reply" ? " (replies)" : ""}`
        : e.kind === "local"
          ? "delivered to the hub itself"
          : e.kind === "dropped"
            ? `dropped by ${chainName(e.visit)}${e.visit.by === "policy" ? " (policy drop)" : ""}`
            : "not seen again (outside nftables)";
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, c]) => `${c} ${k}`);
}
