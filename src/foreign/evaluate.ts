// Walks a base chain for one probe packet, following jumps, and says whether the packet passes.
// A test porthole cannot decide (an unknown interface name, a named set, an unmodelled match) is
// "maybe": both ways are explored, so the answer says whether the drop is certain.
import { contains, parseAddr, parseCidr } from "../net/ip.ts";
import type { Chain, Cond, Probe, Rule, Ruleset } from "./model.ts";

type Tri = boolean | "maybe";

/** The verdict of one path through the chains: the drop names the chain and rule (null: policy). */
type End =
  | { v: "accept" }
  | { v: "drop"; chain: string; rule: Rule | null; via: string[] }
  | { v: "unknown" };

export interface Outcome {
  /** Some path through the rules drops the probe. */
  drops: boolean;
  /** Every path drops it (no "maybe" test could change that). */
  certain: boolean;
  /** The first drop found: the chain it happens in and the rule (null: the base chain's policy). */
  chain?: string;
  rule?: Rule | null;
  /** The chains the first dropping path entered, in order (the base chain first). */
  via?: string[];
}

const glob = (pattern: string, name: string) =>
  /[*+]$/.test(pattern) ? name.startsWith(pattern.slice(0, -1)) : pattern === name;

function ifMatch(names: string[], iface: Probe["iif"]): Tri {
  if ("name" in iface) return names.some((n) => glob(n, iface.name));
  if (names.every((n) => iface.not.some((x) => glob(n, x) && !/[*+]$/.test(n)))) return false;
  return "maybe";
}

const neg = (t: Tri, n: boolean): Tri => (t === "maybe" || !n ? t : !t);

function addrMatch(cidrs: string[], addr: string | null): Tri {
  if (addr === null) return "maybe";
  const a = parseAddr(addr);
  if (!a) return "maybe";
  let unknown = false;
  for (const c of cidrs) {
    const cidr = parseCidr(c.includes("/") ? c : `${c}/${c.includes(":") ? 128 : 32}`);
    if (!cidr) unknown = true;
    else if (cidr.family === a.family && contains(cidr, a)) return true;
  }
  return unknown ? "maybe" : false;
}

function condMatch(c: Cond, p: Probe): Tri {
  switch (c.on) {
    case "iif":
      return neg(ifMatch(c.names, p.iif), c.neg);
    case "oif":
      return neg(p.hook === "input" ? false : ifMatch(c.names, p.oif), c.neg);
    case "proto":
      return neg(c.protos.includes(p.proto), c.neg);
    case "family":
      return c.family === p.family;
    case "dport":
    case "sport": {
      // Only the destination port is known; a source port test is undecidable for a new flow.
      if (c.on === "sport" || p.dport === null) return "maybe";
      const port = p.dport;
      return neg(
        c.ports.some(([a, b]) => a <= port && port <= b),
        c.neg,
      );
    }
    case "daddr":
      return neg(addrMatch(c.cidrs, p.daddr), c.neg);
    case "saddr":
      return neg(addrMatch(c.cidrs, p.saddr), c.neg);
    case "ctstate":
      return neg(c.states.includes(p.ctstate), c.neg);
    case "ctstatus":
      return neg(c.statuses.includes("dnat") ? p.dnat : "maybe", c.neg);
    case "dsttype":
      return neg(anyOf(c.types.map((t) => dstType(t, p))), c.neg);
    case "unknown":
      return "maybe";
  }
}

/** The probes go to one unicast address: the hub's own at the input hook, a peer's when forwarded. */
function dstType(type: string, p: Probe): Tri {
  if (type === "local") return p.hook === "input";
  if (type === "unicast") return true;
  if (type === "broadcast" || type === "multicast") return false;
  return "maybe";
}

const anyOf = (ts: Tri[]): Tri => (ts.includes(true) ? true : ts.includes("maybe") ? "maybe" : false);

function ruleMatch(r: Rule, p: Probe): Tri {
  let out: Tri = true;
  for (const c of r.conds) {
    const m = condMatch(c, p);
    if (m === false) return false;
    if (m === "maybe") out = "maybe";
  }
  return out;
}

interface Frame {
  chain: string;
  index: number;
}

/** A path in progress: the call stack and the chains entered so far. */
interface Path {
  stack: Frame[];
  via: string[];
}

/** Paths explored per base chain at most (each "maybe" forks); past it the answer is "unknown". */
const BUDGET = 4096;
const MAX_DEPTH = 32;

/**
 * Whether the base chain `base` of `rs` drops the probe. Jumps into porthole's own chains count as
 * accepting at the forward hook (porthole's chain accepts its forwards) and as returning at input.
 */
export function evaluate(rs: Ruleset, base: Chain, p: Probe): Outcome {
  const budget = { n: BUDGET };
  const ends = walk(rs, base, { stack: [{ chain: base.name, index: 0 }], via: [base.name] }, p, budget);
  const drops = ends.filter((e): e is Extract<End, { v: "drop" }> => e.v === "drop");
  const first = drops[0];
  if (!first) return { drops: false, certain: false };
  return {
    drops: true,
    certain: drops.length === ends.length,
    chain: first.chain,
    rule: first.rule,
    via: first.via,
  };
}

function walk(rs: Ruleset, base: Chain, from: Path, p: Probe, budget: { n: number }): End[] {
  const path: Path = { stack: from.stack.map((f) => ({ ...f })), via: [...from.via] };
  const { stack } = path;
  for (;;) {
    if (budget.n-- <= 0) return [{ v: "unknown" }];
    const top = stack[stack.length - 1];
    if (!top)
      return [
        base.policy === "drop" ? { v: "drop", chain: base.name, rule: null, via: path.via } : { v: "accept" },
      ];
    const rule = rs.chains[top.chain]?.rules[top.index];
    if (!rule) {
      stack.pop();
      continue;
    }
    top.index++;
    const m = ruleMatch(rule, p);
    if (m === false) continue;
    if (m === "maybe") {
      if (rule.verdict.kind === "continue") continue;
      const taken: Path = { stack: stack.map((f) => ({ ...f })), via: [...path.via] };
      const end = follow(rs, taken, top.chain, rule, p);
      // The path that skips the rule first: its drop is the one named when both paths drop.
      return [...walk(rs, base, path, p, budget), ...(end ? [end] : walk(rs, base, taken, p, budget))];
    }
    const end = follow(rs, path, top.chain, rule, p);
    if (end) return [end];
  }
}

/** Applies a matching rule's verdict to the path; returns the end when the verdict is final. */
function follow(rs: Ruleset, path: Path, chain: string, rule: Rule, p: Probe): End | null {
  const v = rule.verdict;
  const { stack } = path;
  switch (v.kind) {
    case "accept":
      return { v: "accept" };
    case "drop":
    case "reject":
      return { v: "drop", chain, rule, via: path.via };
    case "porthole":
      if (p.hook === "forward") return { v: "accept" };
      return null;
    case "continue":
      return null;
    case "return":
      stack.pop();
      return null;
    case "jump":
    case "goto":
      if (!rs.chains[v.chain] || stack.length >= MAX_DEPTH) return { v: "unknown" };
      if (v.kind === "goto") stack.pop();
      stack.push({ chain: v.chain, index: 0 });
      path.via.push(v.chain);
      return null;
  }
}
