// Other owners' firewalls as data: rulesets read from nft's JSON or iptables-save text, reduced to
// what decides whether porthole's traffic passes (interfaces, protocol, ports, addresses, conntrack).
import type { Family } from "../net/ip.ts";

import type { Source } from "../protocol/status.ts";

/** What one rule tests, as data (`neg`: the rule matches when the test fails). Unknown tests are kept as "unknown". */
export type Cond =
  | { on: "iif" | "oif"; neg: boolean; names: string[] }
  | { on: "proto"; neg: boolean; protos: string[] }
  | { on: "family"; family: Family }
  | { on: "dport" | "sport"; neg: boolean; ports: [number, number][] }
  | { on: "daddr" | "saddr"; neg: boolean; cidrs: string[] }
  | { on: "ctstate"; neg: boolean; states: string[] }
  | { on: "ctstatus"; neg: boolean; statuses: string[] }
  | { on: "dsttype"; neg: boolean; types: string[] }
  | { on: "unknown"; what: string };

/** What a rule does when it matches. "porthole": a jump into porthole's own chains (porthole decides). */
export type Verdict =
  | { kind: "accept" | "drop" | "reject" | "return" | "continue" | "porthole" }
  | { kind: "jump" | "goto"; chain: string };

export interface Rule {
  conds: Cond[];
  verdict: Verdict;
  /** As the owner's tool shows it (iptables-save line, or nft rule with its handle). */
  text: string;
  /** One of porthole's marked accepts ("porthole-pass"). */
  pass?: boolean;
}

export interface Chain {
  name: string;
  /** Base chains only: the hook, and the policy applied when no rule decides. */
  hook?: "input" | "forward";
  policy?: "accept" | "drop";
  rules: Rule[];
}

export interface Ruleset {
  source: Source;
  /** nft family (ip, ip6, inet); iptables: ip or ip6. */
  family: string;
  table: string;
  chains: Record<string, Chain>;
}

/** One packet porthole needs to pass, as the firewall sees it at a hook. */
export interface Probe {
  hook: "input" | "forward";
  family: Family;
  /** Input interface by name, or "not one of these" when unknown (publicInterface auto). */
  iif: { name: string } | { not: string[] };
  /** Output interface ("" at the input hook: there is none). */
  oif: { name: string } | { not: string[] };
  proto: "tcp" | "udp";
  /** null: not known (a reply goes to the client's port). */
  dport: number | null;
  /** null: not known here (the hub's public address, a client's address). */
  daddr: string | null;
  /** The packet's source address; null: not known (a client's address seen at the hub). */
  saddr: string | null;
  ctstate: "new" | "established";
  dnat: boolean;
}
