// The status as text: what `porthole status` prints on the hub and on peers (and what a dashboard
// shows), rendered from the wire types alone, so every reader of the API renders it alike. Pure.
import { count } from "../spec/diagnostics.ts";
import { agoText } from "./age-text.ts";
import { type ProbePeer, probeFinding } from "./probe-text.ts";
import type { PeerApplied } from "./responses.ts";
import type {
  FirewallFinding,
  ForwardStatus,
  ForwardSummary,
  HubStatus,
  LocalPeerStatus,
  ProbeOutcome,
  Source,
} from "./status.ts";
import { LISTED_FORWARDS_UP_TO, probeCounts, summarizeForwards } from "./status-summary.ts";

/** The iptables command of a finding's flavour and family. */
export const xtablesCommand = (source: Source, family: string) =>
  `${family === "ip6" ? "ip6tables" : "iptables"}${source === "iptables-legacy" ? "-legacy" : "-nft"}`;

/** Where a finding's chain is: "nft table inet firewalld chain filter_FORWARD", "iptables-legacy filter INPUT". */
export function where(f: FirewallFinding): string {
  if (f.source === "nft") return `nft table ${f.family} ${f.table} chain ${f.chain}`;
  return `${xtablesCommand(f.source, f.family)} ${f.table} ${f.chain}`;
}

/**
 * Which rule drops: "policy drop" or the rule (and the chain it is in when not the base chain). An nft
 * rule's "(handle N)" goes after the quoted rule: it is not part of what `nft add rule` takes.
 */
export function droppedBy(f: FirewallFinding): string {
  if (f.rule === null) return "policy drop";
  const [, rule, handle] = /^(.*?)( \(handle \d+\))?$/.exec(f.rule) ?? [];
  return `rule \`${rule}\`${handle ?? ""}${f.ruleChain !== f.chain ? ` in chain ${f.ruleChain}` : ""}`;
}

/** "forwards web, game are dropped", "the WireGuard port udp/51820 may be dropped": the finding's subject and verb. */
export function droppedPhrase(f: FirewallFinding): string {
  const are = f.path === "forward" && f.forwards.length > 1;
  return `${f.what} ${f.certain ? (are ? "are dropped" : "is dropped") : "may be dropped"}`;
}

/**
 * One line saying what is dropped, where and by what; a passable drop is one porthole's own accept (its
 * jump, or its marked accepts) would let through, and `porthole apply` puts that accept there.
 */
export function describeFinding(f: FirewallFinding): string {
  const whose = f.passable
    ? "porthole's accept is missing there"
    : "porthole cannot override another owner's chain";
  return `${droppedPhrase(f)} by ${where(f)} (${droppedBy(f)}); ${whose}`;
}

/**
 * "yes (…)" only when the target answered and nothing on the hub drops the forward; else what is wrong:
 * how the probe ended (refused, timed out, unreachable) and what that means, from the peer's handshake
 * and when the hub last received from it; unknown when its agent peer has not applied the spec the
 * hub serves it (`peerSpec`).
 * A probe result from an earlier status says how old it is.
 */
function workingText(f: ForwardStatus, peer: ProbePeer | undefined): string {
  const blocked = f.blockedBy?.join("; ");
  const age = f.probeAgeSeconds ?? 0;
  const then = age > 0 ? ` ${ago(age)}` : "";
  const found = () =>
    probeFinding({
      outcome: f.probeOutcome as ProbeOutcome,
      target: f.probeTarget ?? "the target",
      error: f.probeError ?? null,
      peer,
      then,
    });
  if (f.working === false && blocked) return `NO, blocked on the hub by ${blocked} (fix below)`;
  if (f.working === false && !f.probeOutcome)
    // An older hub says only that the target did not accept.
    return `NO, the target did not accept a connection from the hub${then} (refused, timed out or unreachable: this hub does not say which)`;
  if (f.working === false) return `NO, ${found()}`;
  // The probe came from the hub's own address; clients reach the peer through what its apply sets up.
  if (f.peerSpec)
    return `unknown, ${f.peerSpec}${f.probeOutcome === "accepted" ? ` (the hub's own probe${then} was accepted, but clients come through what ${f.peer}'s apply sets up)` : ""}`;
  if (blocked) return `unknown, ${blocked} may drop it (see below)`;
  if (f.probeOutcome === "error") return `unknown, ${found()}`;
  if (f.reachable === null && f.probeTarget)
    return `unknown, ${f.probeTarget} not probed yet (status probes the longest unchecked targets first; porthole doctor probes all)`;
  if (f.reachable === null) return "not probed (udp); no firewall on the hub drops it";
  return age > 0
    ? `yes (the target accepted a connection from the hub${then}; no firewall on the hub drops it)`
    : "yes (the target accepts connections from the hub; no firewall on the hub drops it)";
}

/**
 * Whether an agent peer is in step with the spec the hub serves it: true (it applied it), false (its
 * apply of it failed, or it is behind with a failed apply), null (behind and fetching, or not heard:
 * not known). Status's line and doctor's applied check both go by it.
 */
export function inStep(a: PeerApplied): boolean | null {
  if (a.state === "current") return true;
  if (a.state === "failed" || (a.state === "behind" && a.lastError)) return false;
  return null;
}

/** An agent peer's side of the spec in a status line: in step, not, or why not known (see PeerApplied). */
const appliedText = (a: PeerApplied) => {
  const known = inStep(a);
  return `${known ? "in step" : known === false ? "NOT in step" : "NOT known to be in step"}: ${a.note}`;
};

/**
 * "" when every probed target was probed by this status; else how many were probed now, earlier
 * and not yet (a status probes a few hundred targets, the longest unchecked first).
 */
function probeNote({ now, earlier, notYet }: ForwardSummary["probed"]): string {
  if (!earlier && !notYet) return "";
  return ` (targets probed by this status: ${now}, by an earlier one: ${earlier}, not yet: ${notYet}; porthole doctor probes all now)`;
}

const bytes = (n: number) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(2) : v} ${units[i]}`;
};

const ago = (s: number | null) => (s === null ? "never" : agoText(s));

/**
 * " counters counted 12 seconds ago": how old the forwards' numbers are (the hub may answer with an
 * earlier count: hub/census.ts); "" from an older hub, which counted for the status.
 */
const countedNote = (s: HubStatus) =>
  s.countedSecondsAgo === undefined
    ? ""
    : ` counters counted ${s.countedSecondsAgo === 0 ? "now" : ago(s.countedSecondsAgo)}`;

/**
 * Traffic in words: packets and bytes; with none, "unknown" when even the new connections are (the
 * counters are not in the kernel), else "not counted" (the iptables backend counts connections only).
 */
function trafficText(n: Pick<ForwardStatus, "packets" | "bytes" | "connectionsTotal">): string {
  if (n.packets !== null && n.bytes !== null) return `${count(n.packets, "packet")}, ${bytes(n.bytes)}`;
  return n.connectionsTotal === null
    ? "unknown (no counters in the kernel: porthole is down, or the forward is not applied yet)"
    : "not counted (iptables backend)";
}

const orUnknown = (n: number | null) => (n === null ? "unknown" : String(n));

/** A forward's two lines: what it is, then its counters and whether it works. */
function forwardLines(f: ForwardStatus, peer: ProbePeer | undefined): string[] {
  return [
    `  ${f.summary}`,
    `    connections: ${orUnknown(f.establishedConnections)} established, ${orUnknown(f.connectionsTotal)} total; traffic: ${trafficText(f)}; working: ${workingText(f, peer)}`,
  ];
}

/** The forwards summed up (see protocol/status-summary.ts), then the listed ones' lines. */
function summaryLines(
  s: ForwardSummary,
  listed: ForwardStatus[],
  lines: (f: ForwardStatus) => string[],
): string[] {
  const out = [
    `  ${s.count} forwards (each one: porthole status --all); together: connections: ${orUnknown(s.establishedConnections)} established, ${orUnknown(s.connectionsTotal)} total; traffic: ${trafficText(s)}`,
    `  working: ${s.working.yes} yes, ${s.working.no} NO, ${s.working.unknown} unknown`,
  ];
  if (!s.problems) return out;
  const first = s.problems > listed.length ? `, the first ${listed.length}` : "";
  out.push(`  not working, maybe dropped, or its peer not in step (${s.problems}${first}):`);
  for (const f of listed) out.push(...lines(f));
  return out;
}

/**
 * `porthole status` on the hub (and on a joined peer, of what the hub lets it see): several lines.
 * More than LISTED_FORWARDS_UP_TO forwards are summed up (by the hub, given `forwardSummary`) unless
 * `all`.
 */
export function renderStatus(s: HubStatus, all = false): string {
  const out = [
    `hub: ${s.hub.name} (${s.hub.address}, ${s.hub.interface} ${s.hub.up ? `up, listening on udp/${s.hub.listenPort}` : "DOWN: not listening"})`,
    "",
    "peers:",
  ];
  for (const p of s.peers) {
    const role = `${p.admin ? " (admin)" : ""}${p.kind === "device" ? " (device)" : ""}`;
    // Without the interface there are no handshakes to read: unknown, not "offline, never" (`online`
    // null; an older hub said false, and `up` false).
    if (!s.hub.up || p.online === null) {
      out.push(
        `  ${p.name} ${p.address}: unknown${role} (${s.hub.interface} is down: its handshakes cannot be read)`,
      );
      continue;
    }
    // In the spec, not on the interface: no tunnel, and nothing of it counted.
    if (p.rxBytes === null || p.txBytes === null) {
      out.push(
        `  ${p.name} ${p.address}: offline${role} (not on ${s.hub.interface}: the spec that adds it is not applied; porthole apply)`,
      );
      continue;
    }
    // Nothing received since it was put on the interface: never (a watch's seconds are not a "since").
    const received =
      p.rxBytes === 0
        ? " last received: never;"
        : p.receivedSecondsAgo != null
          ? ` last received: ${ago(p.receivedSecondsAgo)};`
          : "";
    out.push(
      `  ${p.name} ${p.address}: ${p.online ? "online" : "offline"}${role}`,
      `    latest handshake: ${ago(p.handshakeAgeSeconds)};${received} endpoint: ${p.endpoint ?? "none"}; transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`,
    );
    if (p.applied) out.push(`    spec: ${appliedText(p.applied)}`);
  }
  if (!s.peers.length) out.push("  (none yet: porthole peer add NAME)");
  // The hub sums up a large hub's forwards when asked; an older hub's full list is summed up here.
  const summed =
    s.forwardSummary || all || s.forwards.length <= LISTED_FORWARDS_UP_TO
      ? null
      : summarizeForwards(s.forwards);
  const summary = s.forwardSummary ?? summed?.summary;
  const peers = new Map(s.peers.map((p) => [p.name, p]));
  const lines = (f: ForwardStatus) => forwardLines(f, peers.get(f.peer));
  out.push("", `forwards:${countedNote(s)}${probeNote(summary?.probed ?? probeCounts(s.forwards))}`);
  if (summary) out.push(...summaryLines(summary, summed?.listed ?? s.forwards, lines));
  else for (const f of s.forwards) out.push(...lines(f));
  if (!summary && !s.forwards.length) out.push("  (none yet: porthole expose PORT --to PORT, on a peer)");
  if (s.firewall?.length) {
    out.push("", "firewall on the hub (rules porthole does not own):");
    for (const x of s.firewall) out.push(`  ${describeFinding(x)}`, ...x.fix.map((l) => `    fix: ${l}`));
  }
  return out.join("\n");
}

/**
 * `porthole status` on a peer set up with `porthole apply` (the hub online or not by WireGuard's
 * handshake: it has no API to ask), or, `apiUnanswered`, on a joined peer whose hub's API did not
 * answer: then the hub is "not reached", whatever the handshake, which is said as what it shows (the
 * tunnel worked then), with where to look; the caller prints the error after it.
 */
export function renderLocalPeerStatus(
  s: LocalPeerStatus,
  how = "set up with porthole apply, not joined",
  apiUnanswered = false,
): string {
  const down = `${s.interface} is down: its handshakes cannot be read`;
  // WireGuard forgets its handshakes when a session starts anew (the agent renews it when the hub stops
  // answering): none is "none in this session", not "never", which a peer that worked a minute ago was told.
  const when =
    s.hub.handshakeAgeSeconds === null
      ? "none in this WireGuard session (one starts when the tunnel is set up, and again when the agent renews it)"
      : ago(s.hub.handshakeAgeSeconds);
  const shake = `latest handshake: ${when}; endpoint: ${s.hub.endpoint ?? "none"}`;
  const hubLines = apiUnanswered
    ? [
        "hub: not reached: its API did not answer (why: below)",
        s.up
          ? `  WireGuard: ${shake} (${s.hub.online ? "the tunnel worked then; that does not say the hub's API works" : "none within 3 minutes: the tunnel is down"})`
          : `  WireGuard: ${down}`,
        "  to find out why: `porthole doctor` here checks the tunnel and the hub's API; on the hub, `porthole status` shows its daemon",
      ]
    : s.up
      ? [`hub: ${s.hub.online === null ? "unknown" : s.hub.online ? "online" : "offline"}`, `  ${shake}`]
      : [`hub: unknown (${down})`];
  return [
    `peer ${s.name} (${s.address}, ${s.interface} ${s.up ? "up" : "DOWN"}; ${how})`,
    "",
    ...hubLines,
    "",
    "forwards to this peer (from the spec; counters are on the hub):",
    ...(s.forwards.length ? s.forwards.map((f) => `  ${f}`) : ["  (none)"]),
  ].join("\n");
}
