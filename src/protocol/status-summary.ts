// The forwards of a large hub summed up: what `porthole status` shows of more than
// LISTED_FORWARDS_UP_TO forwards (thousands of lines are read by no one; `--all` and `--json` list
// each). The hub answers it (GET /v1/status?forwards=summary), so the CLI neither receives nor parses
// every forward's status; a client renders it from a full reply alike (an older hub). Pure.
import type { ForwardStatus, ForwardSummary, HubStatus } from "./status.ts";

/** A hub with more forwards than this shows them summed up in `porthole status` (each with `--all`). */
export const LISTED_FORWARDS_UP_TO = 100;

/** The summary lists at most this many of the forwards that do not work, may be dropped, or whose peer is not in step. */
export const LISTED_PROBLEMS = 20;

/**
 * The forwards summed up, and the first LISTED_PROBLEMS of those that do not work (`working` false),
 * that a rule on the hub may drop (`blockedBy`), or whose peer is not known to have applied the spec
 * (`peerSpec`), in their order. Linear in forwards.
 */
export function summarizeForwards(forwards: ForwardStatus[]): {
  summary: ForwardSummary;
  listed: ForwardStatus[];
} {
  const s: ForwardSummary = {
    count: forwards.length,
    establishedConnections: 0,
    connectionsTotal: 0,
    packets: 0,
    bytes: 0,
    working: { yes: 0, no: 0, unknown: 0 },
    problems: 0,
    probed: probeCounts(forwards),
  };
  const listed: ForwardStatus[] = [];
  const add = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);
  for (const f of forwards) {
    s.establishedConnections = add(s.establishedConnections, f.establishedConnections);
    s.connectionsTotal = add(s.connectionsTotal, f.connectionsTotal);
    s.packets = add(s.packets, f.packets);
    s.bytes = add(s.bytes, f.bytes);
    if (f.working === true) s.working.yes++;
    else if (f.working === false) s.working.no++;
    else s.working.unknown++;
    if (f.working === false || f.blockedBy?.length || f.peerSpec) {
      s.problems++;
      if (listed.length < LISTED_PROBLEMS) listed.push(f);
    }
  }
  return { summary: s, listed };
}

/** Forwards with a probe target by when it was probed: by this status (age 0), an earlier one, never. */
export function probeCounts(forwards: ForwardStatus[]): ForwardSummary["probed"] {
  const c = { now: 0, earlier: 0, notYet: 0 };
  for (const f of forwards) {
    if (!f.probeTarget) continue;
    // A probe that failed on the hub itself (outcome "error") was run: not "not yet".
    if (f.reachable === null && f.probeOutcome !== "error") c.notYet++;
    else if ((f.probeAgeSeconds ?? 0) > 0) c.earlier++;
    else c.now++;
  }
  return c;
}

/**
 * The status as the summary view sends it: of more than LISTED_FORWARDS_UP_TO forwards, only the
 * summary and the listed ones (`forwardSummary`, `forwards`); a smaller status as it is.
 */
export function summedStatus(s: HubStatus): HubStatus {
  if (s.forwards.length <= LISTED_FORWARDS_UP_TO) return s;
  const { summary, listed } = summarizeForwards(s.forwards);
  return { ...s, forwards: listed, forwardSummary: summary };
}
