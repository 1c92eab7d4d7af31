// `nft -j list ...` output → rulesets of other owners' nftables tables (porthole's own table and the
// tables iptables-nft manages are left out: the latter are read from iptables-nft-save).
import { skipTable } from "../host/foreign.ts";
import type { Chain, Cond, Rule, Ruleset, Verdict } from "./model.ts";

type Json = Record<string, unknown>;
type Item = Record<string, Json>;

/**
 * Every foreign table in the listing (items of one or more `nft -j list` outputs), with its chains
 * and rules. Base chains other than `type filter` on the input or forward hook get no hook: they are
 * not evaluated.
 */
export function parseNftJson(items: Item[]): Ruleset[] {
  const tables = new Map<string, Ruleset>();
  const sets = new Map<string, unknown[]>();
  const get = (family: string, table: string) => {
    const k = `${family} ${table}`;
    let t = tables.get(k);
    if (!t) {
      t = { source: "nft", family, table, chains: {} };
      tables.set(k, t);
    }
    return t;
  };
  for (const item of items) {
    if (item.set) {
      const s = item.set as { family: string; table: string; name: string; elem?: unknown[] };
      sets.set(`${s.family} ${s.table} ${s.name}`, s.elem ?? []);
    }
    if (item.chain) {
      const c = item.chain as {
        family: string;
        table: string;
        name: string;
        type?: string;
        hook?: string;
        policy?: string;
      };
      const hooked = c.type === "filter" && (c.hook === "input" || c.hook === "forward");
      const chain: Chain = { name: c.name, rules: [] };
      if (hooked) {
        chain.hook = c.hook as Chain["hook"];
        chain.policy = c.policy === "drop" ? "drop" : "accept";
      }
      get(c.family, c.table).chains[c.name] = chain;
    }
  }
  for (const item of items) {
    if (!item.rule) continue;
    const r = item.rule as { family: string; table: string; chain: string; handle?: number; expr?: Json[] };
    const chain = get(r.family, r.table).chains[r.chain];
    if (!chain) continue;
    const named = (n: string) => sets.get(`${r.family} ${r.table} ${n}`);
    chain.rules.push(parseRule(r.expr ?? [], r.handle, named));
  }
  return [...tables.values()].filter((t) => !skipTable(t.family, t.table, Object.keys(t.chains)));
}

function parseRule(
  expr: Json[],
  handle: number | undefined,
  named: (n: string) => unknown[] | undefined,
): Rule {
  const conds: Cond[] = [];
  let verdict: Verdict = { kind: "continue" };
  const words: string[] = [];
  for (const stmt of expr) {
    const [key, body] = Object.entries(stmt)[0] ?? ["", null];
    if (key === "match") {
      const m = body as { op: string; left: Json; right: unknown };
      const c = parseMatch(m.op, m.left, resolveSets(m.right, named));
      conds.push(...c.conds);
      words.push(c.text);
    } else if (key === "accept" || key === "drop" || key === "return" || key === "continue") {
      verdict = { kind: key };
      words.push(key);
    } else if (key === "reject") {
      verdict = { kind: "reject" };
      words.push("reject");
    } else if (key === "jump" || key === "goto") {
      const target = (body as { target: string }).target;
      verdict = { kind: key, chain: target };
      words.push(`${key} ${target}`);
    } else if (key === "queue") {
      verdict = { kind: "drop" }; // no userspace program is known to take it: treat as a drop
      words.push("queue");
    } else if (key === "limit" || key === "quota" || key === "meter" || key === "set") {
      conds.push({ on: "unknown", what: key });
      words.push(key);
    }
    // counter, log, meta/ct set, comment ... do not decide anything.
  }
  const text = `${words.join(" ")}${handle !== undefined ? ` (handle ${handle})` : ""}`;
  return { conds, verdict, text };
}

/** `@name` on the right of a match: the named set's elements when the listing has them. */
function resolveSets(right: unknown, named: (n: string) => unknown[] | undefined): unknown {
  if (typeof right === "string" && right.startsWith("@")) {
    const elems = named(right.slice(1));
    return elems ? { set: elems } : right;
  }
  return right;
}

/** The values of a match's right side as a flat list (a set, a list of flags, or one value). */
function values(right: unknown): unknown[] {
  if (Array.isArray(right)) return right;
  if (right && typeof right === "object" && "set" in right) return (right as { set: unknown[] }).set;
  return [right];
}

const str = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function ports(right: unknown): [number, number][] | null {
  const out: [number, number][] = [];
  for (const v of values(right)) {
    if (typeof v === "number") out.push([v, v]);
    else if (v && typeof v === "object" && "range" in v) {
      const [a, b] = (v as { range: [number, number] }).range;
      if (typeof a !== "number" || typeof b !== "number") return null;
      out.push([a, b]);
    } else return null;
  }
  return out;
}

function cidrs(right: unknown): string[] | null {
  const out: string[] = [];
  for (const v of values(right)) {
    if (typeof v === "string" && !v.startsWith("@")) out.push(v);
    else if (v && typeof v === "object" && "prefix" in v) {
      const p = (v as { prefix: { addr: string; len: number } }).prefix;
      out.push(`${p.addr}/${p.len}`);
    } else return null;
  }
  return out;
}

const FAMILY: Record<string, 4 | 6> = { ip: 4, ip6: 6 };
const PROTOS = new Set(["tcp", "udp", "udplite", "sctp", "dccp"]);

/** One `match` statement → conditions and its text as nft prints it (roughly). */
function parseMatch(op: string, left: Json, right: unknown): { conds: Cond[]; text: string } {
  const negated = op === "!=";
  const simple = op === "==" || op === "!=" || op === "in";
  const [lk, lb] = Object.entries(left)[0] ?? ["", {}];
  const l = (lb ?? {}) as Record<string, string>;
  const shown = values(right).map(str).join(", ");
  const rightText = values(right).length > 1 ? `{ ${shown} }` : shown;
  const opText = op === "==" || op === "in" ? "" : `${op} `;
  const unknown = (what: string) => ({ conds: [{ on: "unknown", what } as Cond], text: what });
  if (!simple) return unknown(`${lk} ${op} ${shown}`);
  if (lk === "meta") {
    const text = `meta ${l.key} ${opText}${rightText}`;
    if (["iifname", "iif", "oifname", "oif"].includes(l.key as string)) {
      const names = values(right).filter((v): v is string => typeof v === "string");
      if (names.length !== values(right).length) return unknown(text);
      const on = (l.key as string).startsWith("i") ? "iif" : "oif";
      return { conds: [{ on, neg: negated, names }], text: `${l.key} ${opText}${rightText}` };
    }
    if (l.key === "l4proto") {
      const protos = values(right).map(str);
      return { conds: [{ on: "proto", neg: negated, protos }], text };
    }
    if (l.key === "nfproto") {
      const fam = values(right).map((v) => (v === "ipv4" ? 4 : v === "ipv6" ? 6 : 0));
      if (fam.length === 1 && fam[0] && !negated) return { conds: [{ on: "family", family: fam[0] }], text };
    }
    return unknown(text);
  }
  if (lk === "payload") {
    const proto = l.protocol as string;
    const field = l.field as string;
    const text = `${proto} ${field} ${opText}${rightText}`;
    if (proto in FAMILY && (field === "daddr" || field === "saddr")) {
      const list = cidrs(right);
      if (!list) return unknown(text);
      return {
        conds: [
          { on: "family", family: FAMILY[proto] as 4 | 6 },
          { on: field, neg: negated, cidrs: list },
        ],
        text,
      };
    }
    if ((PROTOS.has(proto) || proto === "th") && (field === "dport" || field === "sport")) {
      const list = ports(right);
      const protoCond: Cond[] = proto === "th" ? [] : [{ on: "proto", neg: false, protos: [proto] }];
      if (!list) return { conds: [...protoCond, { on: "unknown", what: text }], text };
      return { conds: [...protoCond, { on: field, neg: negated, ports: list }], text };
    }
    if (proto in FAMILY)
      return {
        conds: [
          { on: "family", family: FAMILY[proto] as 4 | 6 },
          { on: "unknown", what: text },
        ],
        text,
      };
    if (PROTOS.has(proto))
      return {
        conds: [
          { on: "proto", neg: false, protos: [proto] },
          { on: "unknown", what: text },
        ],
        text,
      };
    return unknown(text);
  }
  if (lk === "ct" && (l.key === "state" || l.key === "status")) {
    const list = values(right).map(str);
    const text = `ct ${l.key} ${opText}${rightText}`;
    return {
      conds: [
        l.key === "state"
          ? { on: "ctstate", neg: negated, states: list }
          : { on: "ctstatus", neg: negated, statuses: list },
      ],
      text,
    };
  }
  if (lk === "fib") {
    const f = lb as { result?: string; flags?: string[] | string };
    const flags = Array.isArray(f.flags) ? f.flags : [f.flags];
    const text = `fib ${flags.join(" . ")} ${f.result} ${opText}${rightText}`;
    if (f.result === "type" && flags.includes("daddr") && !flags.includes("oif"))
      return { conds: [{ on: "dsttype", neg: negated, types: values(right).map(str) }], text };
    return unknown(text);
  }
  return unknown(`${lk} ${JSON.stringify(lb)} ${opText}${rightText}`);
}
