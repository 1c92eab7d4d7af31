// The hub's status as the API answers it (GET /v1/status, GET /v1/peers): filled in by hub/status.ts,
// rendered as text by protocol/status-text.ts, read by the CLI on the hub and on peers.
import type { PeerApplied } from "./responses.ts";

export interface PeerStatus {
  name: string;
  address: string;
  /**
   * A handshake within the last 180 s (WireGuard's definition: a tunnel that broke since reads online
   * until then; `receivedSecondsAgo` tells sooner). null: not known — the hub's interface is down, so
   * its handshakes cannot be read (never false for that: nothing was checked). Older hubs said false.
   */
  online: boolean | null;
  /** Seconds since the latest handshake; null: none since the peer was put on the interface, or `online` null. */
  handshakeAgeSeconds: number | null;
  /**
   * Seconds since the hub last saw the peer's received bytes grow (it watches them every 2 s; the
   * peers send at least every 25 s, so more than 30 means the tunnel carries nothing now, even while
   * `online`). Never seen growing: the seconds the hub has watched it, once that is at least 30 (nothing
   * received for at least that long). null: not known — watched less than 30 s without growth, the
   * first observation or the first since its counter went down (the interface re-created), not in
   * the interface, or a reader that does not watch (`porthole doctor`); and never received (`rxBytes`
   * 0: nothing since it was put on the interface). Absent from older hubs' replies.
   */
  receivedSecondsAgo?: number | null;
  /**
   * How often the peer sends at least, seconds: its PersistentKeepalive as the spec has it (0: off, an
   * idle peer sends nothing, so silence says nothing). Absent from older hubs' replies: 25.
   */
  keepalive?: number;
  endpoint: string | null;
  /**
   * Bytes received from and sent to the peer since it was put on the interface; null: `online` null
   * (not read), or the peer is not on the interface (the spec that adds it is not applied).
   */
  rxBytes: number | null;
  txBytes: number | null;
  admin: boolean;
  kind: string;
  /**
   * An agent peer's side of the spec, as its agent reported its applies (see PeerApplied). null: a
   * device (it runs no agent: judged as before, by the hub's probe alone); absent: a hub that takes no
   * reports (no daemon: `porthole apply`, or the daemon not running; or an older hub).
   */
  applied?: PeerApplied | null;
}

/**
 * How a TCP connect from the hub to a forward's target ended: accepted (the handshake completed: the
 * tunnel works and something accepts on the port); refused (a reset, or an ICMP port unreachable, came
 * back: the peer is reached and nothing accepts on the port, or its firewall rejects it); timeout (no
 * answer within the probe's 1 s: the tunnel is down, the peer offline, or a firewall drops it);
 * unreachable (an ICMP host or network unreachable came back, a firewall's admin-prohibited among them,
 * or the hub has no route to it); error (the probe itself failed on the hub: says nothing about the
 * target).
 */
export type ProbeOutcome = "accepted" | "refused" | "timeout" | "unreachable" | "error";

export interface ForwardStatus {
  name: string;
  peer: string;
  summary: string;
  mode: string;
  /**
   * Connections opened through this forward: never decreases while the hub runs (see design notes);
   * null: unknown (its counter is not in the kernel: porthole is down, or the forward not applied yet).
   */
  connectionsTotal: number | null;
  /**
   * Packets and bytes of its connections, both directions; null: not counted (iptables backend), or
   * unknown as connectionsTotal is.
   */
  packets: number | null;
  bytes: number | null;
  /** TCP connections ESTABLISHED now plus tracked UDP flows (not TIME_WAIT); null: unknown. */
  establishedConnections: number | null;
  /**
   * The target the hub probes with a TCP connect through the tunnel, "10.8.0.2:8080" (the forward's
   * first IPv4 TCP target); null: none (UDP or IPv6 only), never probed.
   */
  probeTarget: string | null;
  /**
   * The probe target accepted a TCP connect from the hub, `probeAgeSeconds` ago (false: refused, timed
   * out or unreachable; `probeOutcome` says which). null: not known — no probe target, not probed yet
   * (a status probes a few hundred targets, the longest unchecked first; `porthole doctor` probes all),
   * or the probe failed on the hub itself (`probeOutcome` "error"). Kept for readers of older replies;
   * `probeOutcome` is the whole answer.
   */
  reachable: boolean | null;
  /**
   * How the hub's TCP connect to `probeTarget` ended (see ProbeOutcome); null: not probed. Absent from
   * older hubs' replies.
   */
  probeOutcome?: ProbeOutcome | null;
  /**
   * The error the connect ended with, as Node names it, when it says more than the outcome:
   * "EHOSTUNREACH" or "ENETUNREACH" (unreachable), "EMFILE" … (error); absent otherwise.
   */
  probeError?: string;
  /** How long ago the probe was made, in seconds (0: by this status); null: not probed. */
  probeAgeSeconds: number | null;
  /**
   * Why the hub cannot vouch for the peer's side of this forward (its PeerApplied note): the peer has
   * not applied the spec the hub serves it, or that apply failed; absent: it has (or a device peer, or
   * a hub that takes no reports). `working` is then never true.
   */
  peerSpec?: string;
  /** Other owners' firewall rules on the hub that drop it: "nft table inet firewalld chain filter_FORWARD (policy drop)". */
  blockedBy: string[];
  /**
   * Works as far as the hub can tell: nothing on the hub drops it and the target answered through the
   * tunnel (as of `probeAgeSeconds`), and an agent peer applied the spec the hub serves it. false:
   * something drops it or the target did not answer; null: cannot tell (not probed, a rule that may
   * drop it, or the peer's side not known to be in step: `peerSpec` says why).
   */
  working: boolean | null;
}

export interface HubStatus {
  hub: {
    name: string;
    interface: string;
    listenPort: number;
    address: string;
    /**
     * Where peers reach it, host:port as in the spec (`hub.endpoint`); absent from older hubs' replies.
     * A peer's `status` says it without reading (parsing, validating) its copy of the spec.
     */
    endpoint?: string;
    up: boolean;
  };
  peers: PeerStatus[];
  forwards: ForwardStatus[];
  /** Other owners' rules on the hub that drop porthole's traffic, each with its fix. */
  firewall: FirewallFinding[];
  /**
   * What is wrong with the hub's spec file (a hand edit; the hub runs on its last valid spec and refuses
   * changes until it is fixed); null: nothing. Absent for a peer that is not an admin.
   */
  specProblem?: string | null;
  /**
   * When the forwards' counters (connectionsTotal, packets, bytes, establishedConnections) were counted,
   * ISO 8601: the hub answers with its last count and counts again for the next status when counting
   * takes long (10,000 forwards, 100,000 tracked connections; see hub/census.ts). Absent from older
   * hubs' replies (counted by that status).
   */
  countedAt?: string;
  /** How long before this status they were counted, in whole seconds rounded up (0: by this status). */
  countedSecondsAgo?: number;
  /**
   * Present only in the summary (GET /v1/status?forwards=summary, what `porthole status` asks for) of
   * more than LISTED_FORWARDS_UP_TO forwards: they summed up, and `forwards` holds the first of those
   * that do not work, may be dropped or whose peer is not in step (at most LISTED_PROBLEMS), not every forward.
   */
  forwardSummary?: ForwardSummary;
}

/** The forwards summed up: every number is the sum of the per-forward numbers over all of them. */
export interface ForwardSummary {
  /** How many forwards there are. */
  count: number;
  /** Sums of the forwards' counters; null: some forward's is null (unknown, or not counted). */
  establishedConnections: number | null;
  connectionsTotal: number | null;
  packets: number | null;
  bytes: number | null;
  /** Forwards by `working`: true, false, null. */
  working: { yes: number; no: number; unknown: number };
  /**
   * Forwards that do not work, that a rule on the hub may drop, or whose peer is not known to have
   * applied the spec (`forwards` lists the first).
   */
  problems: number;
  /** Forwards with a probe target, by when it was last probed: by this status, an earlier one, never. */
  probed: { now: number; earlier: number; notYet: number };
}

/** Where a foreign ruleset lives: an nftables table, or the filter table of one iptables flavour. */
export type Source = "nft" | "iptables-legacy" | "iptables-nft";

/** What a finding stops. */
export type PathKind = "wireguard" | "api" | "forward" | "mesh";

/** A rule or policy porthole does not own that drops its traffic on the hub (src/foreign finds them). */
export interface FirewallFinding {
  path: PathKind;
  /** What it stops, in words: "the WireGuard port udp/51820", "forwards web, game". */
  what: string;
  /** Forward names it stops (path "forward"). */
  forwards: string[];
  source: Source;
  /** nft family (inet, ip, ip6); iptables: ip or ip6. */
  family: string;
  table: string;
  /** The base chain (on the input or forward hook) that drops. */
  chain: string;
  /** The chain the dropping rule is in (the base chain, or one it jumps to). */
  ruleChain: string;
  /** The dropping rule as its owner's tool shows it; null: the base chain's policy. */
  rule: string | null;
  /** The chains the dropping path went through (base chain first). */
  via: string[];
  /** Every path through the rules drops it (false: a test porthole cannot decide could let it pass). */
  certain: boolean;
  /**
   * A drop in iptables FORWARD (either flavour) with no accept of porthole's there yet: `porthole apply`
   * inserts marked accepts ("porthole-pass"), or, in the flavour its iptables backend uses, puts back
   * the jump into its own chains.
   */
  passable: boolean;
  /** Commands that admit porthole's traffic, for the owner of the rule to run. */
  fix: string[];
}

/** A peer set up with `porthole apply` (no agent, no hub API): what it can see of itself. */
export interface LocalPeerStatus {
  name: string;
  address: string;
  interface: string;
  up: boolean;
  /** The hub as this peer's interface sees it; `online` null: the interface is down (not read). */
  hub: { online: boolean | null; handshakeAgeSeconds: number | null; endpoint: string | null };
  forwards: string[];
}
