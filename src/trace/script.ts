// The short-lived nft table `porthole trace` adds: it sets nftrace on the packets of one public port
// (both directions) and watches where they come out. Pure: the text only; host/trace.ts loads it.
import type { Proto } from "../spec/types.ts";

/** Every trace table's name starts so. */
export const TRACE_TABLE_PREFIX = "porthole_trace_";

/**
 * The table one `porthole trace` adds: `porthole_trace_TRACER_NFT`, the pids of the porthole process
 * and of the nft process that owns the table, so a later trace can tell an orphan (see
 * host/trace.ts, endOrphanTraces).
 */
export const traceTable = (tracer: number, nft: number) => `${TRACE_TABLE_PREFIX}${tracer}_${nft}`;

/** The two pids of a trace table's name, or null for any other table. */
export function traceTablePids(name: string): { tracer: number; nft: number } | null {
  const m = /^porthole_trace_(\d+)_(\d+)$/.exec(name);
  return m ? { tracer: Number(m[1]), nft: Number(m[2]) } : null;
}

/**
 * The chains, by the part each plays (their names are what the trace events carry):
 * - tag_in (prerouting, before conntrack and every NAT) and tag_local (output, for clients on the hub)
 *   set nftrace on packets to PORT on one of the hub's own addresses: a forward's first packet meets
 *   the DNAT with the bit already set;
 * - tag_reply (prerouting, after conntrack) sets it on replies of flows DNAT'd from PORT;
 * - seen_out (postrouting) and seen_in (input) run after every other chain, so the packet they report
 *   is the one that leaves (both NATs done, the interface out) or is delivered to the hub itself.
 */
export const TRACE_CHAINS = {
  tagIn: "tag_in",
  tagLocal: "tag_local",
  tagReply: "tag_reply",
  seenOut: "seen_out",
  seenIn: "seen_in",
} as const;

/**
 * The commands that add table TABLE for tcp and/or udp PORT, as one line (one transaction in `nft -i`).
 * The table carries `flags owner`: the kernel removes it when the nft process that added it ends, so it
 * never outlives the trace however the trace ends (exit, Ctrl-C, SIGTERM, SIGKILL).
 */
export function traceScript(table: string, protos: Proto[], port: number): string {
  const l4 = protos.length === 1 ? `meta l4proto ${protos[0]}` : `meta l4proto { ${protos.join(", ")} }`;
  const t = `inet ${table}`;
  const c = TRACE_CHAINS;
  const chain = (name: string, hook: string, priority: number) =>
    `add chain ${t} ${name} { type filter hook ${hook} priority ${priority}; policy accept; }`;
  return [
    `add table ${t} { flags owner; }`,
    // -350: before raw (-300), conntrack (-200) and the DNAT (-100), and before any foreign chain there.
    chain(c.tagIn, "prerouting", -350),
    chain(c.tagLocal, "output", -350),
    // -150: conntrack has run, so the reply direction and the flow's original port are known.
    chain(c.tagReply, "prerouting", -150),
    // 500: after the SNAT (100) and every usual priority: what is seen here leaves by its oif.
    chain(c.seenOut, "postrouting", 500),
    chain(c.seenIn, "input", 500),
    `add rule ${t} ${c.tagIn} ${l4} th dport ${port} fib daddr type local meta nftrace set 1`,
    `add rule ${t} ${c.tagLocal} ${l4} th dport ${port} fib daddr type local meta nftrace set 1`,
    `add rule ${t} ${c.tagReply} ct direction reply ct status dnat ${l4} ct original proto-dst ${port} meta nftrace set 1`,
  ].join(" ; ");
}
