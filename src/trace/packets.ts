// `nft monitor trace` events grouped into packets: each packet's base chains in the order the kernel
// ran them, the verdict of each and the rule that gave it, and how the packet ended (left by an
// interface, delivered to the hub, dropped, or not seen again). Pure: the caller feeds lines and time.
import type { PacketHeaders, TraceEvent } from "./events.ts";
import { TRACE_CHAINS, TRACE_TABLE_PREFIX } from "./script.ts";

/** One run of a base chain for one packet. */
export interface ChainVisit {
  /** "prerouting", "forward", … from the chain's hook; null when the chain was not listed at start. */
  hook: string | null;
  family: string;
  table: string;
  /** The base chain. */
  chain: string;
  /** Regular chains entered from it by jump or goto, in order. */
  path: string[];
  /** "accept", "drop", "queue", … ; null when no event said (the packet was lost in between). */
  verdict: string | null;
  /** The rule that gave the verdict (in `ruleChain`), or "policy". */
  by: { chain: string; rule: string } | "policy" | null;
  /** Rules that matched and let the packet go on ("continue"): counters, the MSS clamp, marks. */
  matched: { chain: string; rule: string }[];
  /** The packet as this chain saw it (after the NAT of earlier hooks). */
  headers: PacketHeaders;
}

export type PacketEnd =
  | { kind: "out"; headers: PacketHeaders }
  | { kind: "local"; headers: PacketHeaders }
  | { kind: "dropped"; visit: ChainVisit }
  /** Not seen again after the last visit: something outside nftables took it, or the trace stopped. */
  | { kind: "unseen" };

export interface TracedPacket {
  /** "in": to the public port; "reply": a reply of a forwarded flow. */
  direction: "in" | "reply";
  /** The packet as it arrived, before any NAT. */
  first: PacketHeaders;
  visits: ChainVisit[];
  end: PacketEnd;
}

interface Open {
  direction: "in" | "reply";
  first: PacketHeaders;
  visits: ChainVisit[];
  last: number;
}

const own = (table: string) => table.startsWith(TRACE_TABLE_PREFIX);
const ARRIVE = new Set<string>([TRACE_CHAINS.tagIn, TRACE_CHAINS.tagLocal]);

/**
 * Groups events into packets. `hooks` maps "family table chain" to the hook of each base chain
 * (`nft -j list chains`), so each visit can say where in the path it is.
 */
export class PacketAssembler {
  private open = new Map<string, Open>();
  /** The headers tag_reply saw last, per id: the first headers of a reply whose id was still open. */
  private replyHeaders = new Map<string, PacketHeaders>();

  constructor(
    private readonly table: string,
    private readonly hooks: ReadonlyMap<string, string>,
  ) {}

  /** Takes one event seen at `now` (ms); returns the packets it completed (0, 1 or 2). */
  push(e: TraceEvent, now: number): TracedPacket[] {
    const done: TracedPacket[] = [];
    const cur = this.open.get(e.id);
    if (e.table === this.table) {
      if (e.kind === "packet" && ARRIVE.has(e.chain)) {
        // The kernel reused the id: the packet that had it never showed up again.
        if (cur) done.push(this.close(e.id, cur, { kind: "unseen" }));
        this.open.set(e.id, { direction: "in", first: e.headers, visits: [], last: now });
      } else if (e.chain === TRACE_CHAINS.tagReply) {
        // Every traced packet passes tag_reply; only a reply matches its rule.
        if (e.kind === "packet" && !cur)
          this.open.set(e.id, { direction: "reply", first: e.headers, visits: [], last: now });
        else if (e.kind === "packet") this.replyHeaders.set(e.id, e.headers);
        else if (e.kind === "rule" && cur?.direction === "in") {
          done.push(this.close(e.id, cur, { kind: "unseen" }));
          const first = this.replyHeaders.get(e.id) ?? cur.first;
          this.open.set(e.id, { direction: "reply", first, visits: [], last: now });
        }
      } else if (cur && e.kind === "packet" && e.chain === TRACE_CHAINS.seenOut) {
        done.push(this.close(e.id, cur, { kind: "out", headers: e.headers }));
      } else if (cur && e.kind === "packet" && e.chain === TRACE_CHAINS.seenIn) {
        done.push(this.close(e.id, cur, { kind: "local", headers: e.headers }));
      }
      return done;
    }
    // Another trace's table, or a packet someone else tagged: not ours to show.
    if (!cur || own(e.table)) return done;
    cur.last = now;
    if (e.kind === "packet") {
      cur.visits.push({
        hook: this.hooks.get(`${e.family} ${e.table} ${e.chain}`) ?? null,
        family: e.family,
        table: e.table,
        chain: e.chain,
        path: [],
        verdict: null,
        by: null,
        matched: [],
        headers: e.headers,
      });
      return done;
    }
    const v = cur.visits.at(-1);
    if (!v || v.table !== e.table || v.family !== e.family) return done;
    if (e.kind === "rule") {
      const jump = /^(jump|goto) (\S+)$/.exec(e.verdict);
      if (jump) v.path.push(jump[2] as string);
      else if (e.verdict === "continue") v.matched.push({ chain: e.chain, rule: e.rule });
      else {
        v.verdict = e.verdict;
        v.by = { chain: e.chain, rule: e.rule };
      }
    } else if (e.kind === "policy") {
      v.verdict = e.verdict;
      v.by = "policy";
    }
    if (v.verdict === "drop") done.push(this.close(e.id, cur, { kind: "dropped", visit: v }));
    return done;
  }

  /** Packets with no event for `quietMs` (their end was not seen), oldest first. */
  flush(now: number, quietMs: number): TracedPacket[] {
    const done: TracedPacket[] = [];
    for (const [id, p] of this.open)
      if (now - p.last >= quietMs) done.push(this.close(id, p, { kind: "unseen" }));
    return done;
  }

  /** Every packet still open (the trace is ending). */
  end(): TracedPacket[] {
    return this.flush(Number.POSITIVE_INFINITY, 0);
  }

  private close(id: string, p: Open, end: PacketEnd): TracedPacket {
    this.open.delete(id);
    this.replyHeaders.delete(id);
    return { direction: p.direction, first: p.first, visits: p.visits, end };
  }
}

/** "family table chain" -> hook, from `nft -j list chains` (base chains only). */
export function chainHooks(listing: string): Map<string, string> {
  const hooks = new Map<string, string>();
  const items = (JSON.parse(listing) as { nftables?: { chain?: Record<string, unknown> }[] }).nftables ?? [];
  for (const { chain: c } of items)
    if (c && typeof c.hook === "string") hooks.set(`${c.family} ${c.table} ${c.name}`, c.hook);
  return hooks;
}
