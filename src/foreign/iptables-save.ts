// iptables-save text → the filter table's chains as data (either flavour: legacy or nft, same text).
import { PASS } from "../host/foreign.ts";
import type { Family } from "../net/ip.ts";
import type { Source } from "../protocol/status.ts";
import type { Chain, Cond, Rule, Ruleset, Verdict } from "./model.ts";

/** Splits an iptables-save rule into words, honouring double quotes. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] as string));
  return out;
}

const portList = (s: string): [number, number][] | null => {
  const out: [number, number][] = [];
  for (const part of s.split(",")) {
    const [a, b] = part.split(":").map(Number);
    if (a === undefined || Number.isNaN(a) || (b !== undefined && Number.isNaN(b))) return null;
    out.push([a, b ?? a]);
  }
  return out;
};

/** Modules whose options porthole reads (the rest make the rule "maybe"); comment decides nothing. */
const KNOWN = new Set(["tcp", "udp", "multiport", "conntrack", "state", "addrtype", "comment"]);

function parseRule(line: string, chains: Set<string>): { chain: string; rule: Rule } | null {
  const w = words(line);
  if (w[0] !== "-A" || !w[1]) return null;
  const chain = w[1];
  const conds: Cond[] = [];
  let verdict: Verdict = { kind: "continue" };
  let neg = false;
  let pass = false;
  for (let i = 2; i < w.length; i++) {
    const opt = w[i] as string;
    const arg = w[i + 1] ?? "";
    if (opt === "!") {
      neg = true;
      continue;
    }
    const take = () => {
      i++;
      return arg;
    };
    switch (opt) {
      case "-i":
      case "-o":
        conds.push({ on: opt === "-i" ? "iif" : "oif", neg, names: [take()] });
        break;
      case "-p":
        conds.push({ on: "proto", neg, protos: [take().toLowerCase()] });
        break;
      case "-s":
      case "-d":
        conds.push({ on: opt === "-s" ? "saddr" : "daddr", neg, cidrs: take().split(",") });
        break;
      case "--dport":
      case "--dports":
      case "--sport":
      case "--sports": {
        const ports = portList(take());
        const on = opt.startsWith("--d") ? "dport" : "sport";
        conds.push(ports ? { on, neg, ports } : { on: "unknown", what: `${opt} ${arg}` });
        break;
      }
      case "--ctstate":
      case "--state":
        conds.push({ on: "ctstate", neg, states: take().toLowerCase().split(",") });
        break;
      case "--ctstatus":
        conds.push({ on: "ctstatus", neg, statuses: take().toLowerCase().split(",") });
        break;
      case "--dst-type": {
        conds.push({ on: "dsttype", neg, types: take().toLowerCase().split(",") });
        break;
      }
      case "--comment":
        if (take() === PASS) pass = true;
        break;
      case "-m":
        if (!KNOWN.has(arg)) conds.push({ on: "unknown", what: `-m ${arg}` });
        i++;
        break;
      case "-j":
      case "-g": {
        const t = take();
        if (opt === "-g") verdict = { kind: "goto", chain: t };
        else if (t === "ACCEPT") verdict = { kind: "accept" };
        else if (t === "DROP") verdict = { kind: "drop" };
        else if (t === "REJECT") verdict = { kind: "reject" };
        else if (t === "RETURN") verdict = { kind: "return" };
        else if (t.startsWith("PORTHOLE-")) verdict = { kind: "porthole" };
        else if (chains.has(t)) verdict = { kind: "jump", chain: t };
        i = w.length; // the rest are the target's options
        break;
      }
      default:
        // An option of a module porthole does not model (its "-m" already made the rule "maybe").
        if (opt.startsWith("-") && !arg.startsWith("-")) i++;
    }
    neg = false;
  }
  return { chain, rule: { conds, verdict, text: line, pass } };
}

/**
 * The filter table of one iptables flavour and family from `iptables-save` text (null when the text
 * has no filter table). porthole's own PORTHOLE-* chains are left out: jumps into them are "porthole".
 */
export function parseIptablesSave(
  text: string,
  source: Exclude<Source, "nft">,
  family: Family,
): Ruleset | null {
  const lines = text.split("\n");
  const start = lines.indexOf("*filter");
  if (start < 0) return null;
  const chains: Record<string, Chain> = {};
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line === "COMMIT") break;
    const decl = /^:(\S+) (\S+)/.exec(line);
    if (decl) {
      const [, name, policy] = decl as unknown as [string, string, string];
      if (name.startsWith("PORTHOLE-")) continue;
      const chain: Chain = { name, rules: [] };
      if (name === "INPUT" || name === "FORWARD") {
        chain.hook = name === "INPUT" ? "input" : "forward";
        chain.policy = policy === "DROP" ? "drop" : "accept";
      }
      chains[name] = chain;
    } else if (line.startsWith("-A ") && !line.startsWith("-A PORTHOLE-")) body.push(line);
  }
  const names = new Set(Object.keys(chains));
  for (const line of body) {
    const r = parseRule(line, names);
    if (r) chains[r.chain]?.rules.push(r.rule);
  }
  return { source, family: family === 4 ? "ip" : "ip6", table: "filter", chains };
}
