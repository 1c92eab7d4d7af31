// What bringing table inet porthole from the kernel's state to the plan takes, as a value: nothing, a
// removal, a reload of the whole table, or an element patch. A patch (elements deleted and added) is a
// transaction far smaller than a reload (10,000 forwards: ~20 ms, mostly nft start-up, instead of
// ~250 ms), taken only when the kernel holds the ruleset porthole loaded last and the two plans differ
// in set and map elements only. Pure: compares the plans' data, no I/O.

import type { NftState } from "../host/types.ts";
import { type NftCollection, type NftElementChange, type NftPlan, nftRuleCount } from "../plan/nft.ts";

/** A plan with the marker of its rendered text (reconcile/firewall.ts). */
export interface MarkedNft {
  plan: NftPlan;
  marker: string;
}

export type NftDiff =
  | { kind: "none" }
  | { kind: "remove" }
  | { kind: "reload"; reason: string }
  | { kind: "patch"; changes: NftElementChange[] };

/**
 * `want`: the plan's table (null: none wanted); `have`: the kernel's marker (null: no table);
 * `previous`: the table porthole loaded last (null: none known).
 */
export function diffNftTable(
  want: MarkedNft | null,
  have: NftState | null,
  previous: MarkedNft | null,
): NftDiff {
  if (!want) return have ? { kind: "remove" } : { kind: "none" };
  if (have && holds(have, want)) return { kind: "none" };
  if (!have) return { kind: "reload", reason: "no table inet porthole" };
  if (!previous) return { kind: "reload", reason: "no ruleset applied before" };
  if (!holds(have, previous))
    return { kind: "reload", reason: "the kernel holds another ruleset than porthole loaded last" };
  const changes = nftElementChanges(previous.plan, want.plan);
  return changes
    ? { kind: "patch", changes }
    : { kind: "reload", reason: "chains or set declarations changed" };
}

/**
 * Whether the kernel's table is `m`'s: its marker, and its rules when they were counted (chains emptied
 * behind porthole, `nft flush table inet porthole`, keep the marker).
 */
export const holds = (have: NftState, m: MarkedNft): boolean =>
  have.marker === m.marker && (have.rules === undefined || have.rules === nftRuleCount(m.plan.chains));

/** Same declaration: kind, name, type and flags. */
const sameDeclaration = (a: NftCollection, b: NftCollection) =>
  a.kind === b.kind &&
  a.name === b.name &&
  a.type === b.type &&
  a.flags.length === b.flags.length &&
  a.flags.every((f, i) => f === b.flags[i]);

/** The element changes from `prev` to `next`; null unless they differ in set and map elements only. */
export function nftElementChanges(prev: NftPlan, next: NftPlan): NftElementChange[] | null {
  if (prev.chains !== next.chains || prev.collections.length !== next.collections.length) return null;
  const changes: NftElementChange[] = [];
  for (const [i, to] of next.collections.entries()) {
    const from = prev.collections[i] as NftCollection;
    if (!sameDeclaration(from, to)) return null;
    const change =
      from.kind === "map" && to.kind === "map"
        ? mapChange(to.name, from.elements, to.elements)
        : setChange(to.name, from.elements as string[], to.elements as string[]);
    if (change.remove.length || change.add.length) changes.push(change);
  }
  return changes;
}

/**
 * The part of two lists between their common prefix and suffix. Compiled in forward order, the lists
 * mostly agree, so only this middle is compared as sets (an element occurs once in a list, so the rest
 * is in both).
 */
function middle<T>(x: T[], y: T[], same: (a: T, b: T) => boolean): [T[], T[]] {
  let head = 0;
  while (head < x.length && head < y.length && same(x[head] as T, y[head] as T)) head++;
  let tail = 0;
  while (
    tail < x.length - head &&
    tail < y.length - head &&
    same(x[x.length - 1 - tail] as T, y[y.length - 1 - tail] as T)
  )
    tail++;
  return [x.slice(head, x.length - tail), y.slice(head, y.length - tail)];
}

function setChange(name: string, x: string[], y: string[]): NftElementChange {
  const [a, b] = middle(x, y, (p, q) => p === q);
  const old = new Set(a);
  const now = new Set(b);
  return { kind: "set", name, remove: a.filter((e) => !now.has(e)), add: b.filter((e) => !old.has(e)) };
}

/** A key gone or whose value changed is deleted (by key); a new key or value is added. */
function mapChange(name: string, x: [string, string][], y: [string, string][]): NftElementChange {
  const [a, b] = middle(x, y, (p, q) => p[0] === q[0] && p[1] === q[1]);
  const old = new Map(a);
  const now = new Map(b);
  return {
    kind: "map",
    name,
    remove: a.filter(([k, v]) => now.get(k) !== v).map(([k]) => k),
    add: b.filter(([k, v]) => old.get(k) !== v),
  };
}
