// Each forward's status from what the kernel counted and what other owners' firewalls drop. Pure: the
// reading and probing live in status.ts, the text in protocol/status-text.ts.
import type { Count } from "../host/types.ts";
import type { Target } from "../plan/plan.ts";
import type { FirewallFinding, ForwardStatus } from "../protocol/status.ts";
import { droppedBy, where } from "../protocol/status-text.ts";
import { describeForward } from "../reconcile/summary.ts";
import type { Forward, Spec } from "../spec/types.ts";

/**
 * What the kernel counted, keyed by public port ("tcp . 80") and, for open connections, by target. A
 * public port missing from `opened` or `traffic` has no counter in the kernel (its forward is not
 * applied yet): its forward's number is unknown, not 0.
 */
export interface ForwardCounters {
  /** New connections per public port; null when porthole's rules are not loaded (nothing counts). */
  opened: Map<string, number> | null;
  /** Packets and bytes per public port; null when the backend does not count them. */
  traffic: Map<string, Count> | null;
  /** Open connections by "proto/public port/target address/target port"; null when unknown. */
  open: Map<string, number> | null;
}

/**
 * Each forward's numbers (in `spec.forwards` order) as columns, null where not counted, NaN for a
 * forward whose counter the kernel does not have: what the census keeps between statuses
 * (hub/census.ts; 32 bytes a forward, against ~400 as ForwardStatus).
 */
export interface ForwardNumbers {
  opened: Float64Array | null;
  packets: Float64Array | null;
  bytes: Float64Array | null;
  open: Float64Array | null;
}

/**
 * Each forward's numbers: the sums over its own public ports (a public port belongs to one forward,
 * so forwards that share a target never see each other's traffic). Linear in forwards and ports.
 */
export function forwardNumbers(spec: Spec, targets: Target[], c: ForwardCounters): ForwardNumbers {
  const targetsOf = new Map<string, Target[]>();
  for (const t of targets) {
    const list = targetsOf.get(t.forward);
    if (list) list.push(t);
    else targetsOf.set(t.forward, [t]);
  }
  const n = spec.forwards.length;
  const out: ForwardNumbers = {
    opened: c.opened ? new Float64Array(n) : null,
    packets: c.traffic ? new Float64Array(n) : null,
    bytes: c.traffic ? new Float64Array(n) : null,
    open: c.open ? new Float64Array(n) : null,
  };
  for (const [i, f] of spec.forwards.entries()) {
    const mine = targetsOf.get(f.name) ?? [];
    // A public port counts once however many targets (families) it has; most forwards have one.
    const seen = mine.length > 1 ? new Set<string>() : null;
    let [opened, packets, bytes, open] = [0, 0, 0, 0];
    for (const t of mine) {
      const p = `${t.proto} . ${t.port}`;
      if (!seen?.has(p)) {
        seen?.add(p);
        opened += c.opened?.get(p) ?? Number.NaN;
        const tr = c.traffic?.get(p);
        packets += tr?.packets ?? Number.NaN;
        bytes += tr?.bytes ?? Number.NaN;
      }
      if (c.open) open += c.open.get(`${t.proto}/${t.port}/${t.addr}/${t.targetPort}`) ?? 0;
    }
    if (out.opened) out.opened[i] = opened;
    if (out.packets) out.packets[i] = packets;
    if (out.bytes) out.bytes[i] = bytes;
    if (out.open) out.open[i] = open;
  }
  return out;
}

/** Forward `i`'s number in a column; null when not counted (no column, NaN). */
function known(column: Float64Array | null, i: number): number | null {
  const v = column?.[i];
  return v === undefined || Number.isNaN(v) ? null : v;
}

/** describeForward's text by forward (a spec's forwards live as long as the daemon runs on it). */
const described = new WeakMap<Forward, string>();
const describe = (f: Forward) => {
  let d = described.get(f);
  if (d === undefined) {
    d = describeForward(f);
    described.set(f, d);
  }
  return d;
};

/** Each forward's status from its numbers (`n`, from forwardNumbers over the same spec), not probed yet. */
export function statusesOf(spec: Spec, n: ForwardNumbers): ForwardStatus[] {
  return spec.forwards.map((f, i) => ({
    name: f.name,
    peer: f.peer,
    summary: describe(f),
    mode: f.mode,
    connectionsTotal: known(n.opened, i),
    packets: known(n.packets, i),
    bytes: known(n.bytes, i),
    establishedConnections: known(n.open, i),
    probeTarget: null,
    reachable: null,
    probeOutcome: null,
    probeAgeSeconds: null,
    blockedBy: [],
    working: null,
  }));
}

/** Each forward's status from what the kernel counted (forwardNumbers, then statusesOf). */
export const forwardStatuses = (spec: Spec, targets: Target[], c: ForwardCounters): ForwardStatus[] =>
  statusesOf(spec, forwardNumbers(spec, targets, c));

/** The forwards with what blocks each on the hub, and whether each works as far as the hub can tell. */
export function withFindings(forwards: ForwardStatus[], firewall: FirewallFinding[]): ForwardStatus[] {
  return forwards.map((f) => {
    const mine = firewall.filter((x) => x.path === "forward" && x.forwards.includes(f.name));
    const blockedBy = mine.map((x) => `${where(x)} (${droppedBy(x)})${x.certain ? "" : ", maybe"}`);
    const working =
      mine.some((x) => x.certain) || f.reachable === false
        ? false
        : mine.length || f.reachable === null
          ? null
          : true;
    return { ...f, blockedBy, working };
  });
}
