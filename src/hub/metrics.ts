// Prometheus text exposition of the hub's status and apply counters. Hand-written rather than
// prom-client: the counters' values come from the kernel at each scrape (prom-client's Counter can
// only be incremented), and what is left is a few lines of text.
import pkg from "../../package.json" with { type: "json" };
import type { FirewallFinding, ForwardStatus, HubStatus, PeerStatus } from "../protocol/status.ts";
import { droppedBy, where } from "../protocol/status-text.ts";
import type { ApplyStats } from "./context.ts";

const esc = (v: string) =>
  /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;

/** A value of null leaves the series out (unknown is absent, never a sentinel like -1). */
type Def<T> = [name: string, type: "gauge" | "counter", help: string, value: (x: T) => number | null];

const HUB: Def<HubStatus["hub"]>[] = [
  [
    "porthole_hub_interface_up",
    "gauge",
    "1 if the hub's WireGuard interface exists (its peers' handshakes can be read), else 0 (the peers' up, handshake and byte series are then absent).",
    (h) => (h.up ? 1 : 0),
  ],
];
const PEER: Def<PeerStatus>[] = [
  [
    "porthole_peer_up",
    "gauge",
    "1 if the peer completed a handshake within 180 s, else 0 (absent: the hub's WireGuard interface is down, so its handshakes cannot be read).",
    (p) => (p.online === null ? null : p.online ? 1 : 0),
  ],
  [
    "porthole_peer_handshake_age_seconds",
    "gauge",
    "Seconds since the latest handshake (absent: never, or not readable).",
    (p) => p.handshakeAgeSeconds,
  ],
  [
    "porthole_peer_last_receive_age_seconds",
    "gauge",
    "Seconds since the hub last saw bytes arrive from the peer (its received bytes grow; watched every 2 s). A peer sends at least once per its keepalive (porthole_peer_keepalive_seconds), so over max(30, keepalive + 5) means the tunnel carries nothing even while porthole_peer_up is 1; with keepalive 0 an idle peer sends nothing and silence says nothing. Bytes never seen growing: how long the hub has watched, once at least 30 s. Absent: not known yet, or nothing ever received (porthole_peer_receive_bytes_total 0).",
    (p) => p.receivedSecondsAgo ?? null,
  ],
  [
    "porthole_peer_keepalive_seconds",
    "gauge",
    "The peer's PersistentKeepalive as the spec has it, seconds (0: off). What porthole_peer_last_receive_age_seconds is judged against.",
    (p) => p.keepalive ?? null,
  ],
  [
    "porthole_peer_spec_applied",
    "gauge",
    "1 if the peer's agent reported that it applied the spec the hub serves it now, else 0 (its apply failed, it is behind, or it does not report: porthole status says which; its forwards then never read working). Absent: a device (no agent), or a hub that takes no reports.",
    (p) => (p.applied ? (p.applied.state === "current" ? 1 : 0) : null),
  ],
  [
    "porthole_peer_receive_bytes_total",
    "counter",
    "Bytes received from the peer (absent: the hub's WireGuard interface is down, or the peer is not on it).",
    (p) => p.rxBytes,
  ],
  [
    "porthole_peer_transmit_bytes_total",
    "counter",
    "Bytes sent to the peer (absent: the hub's WireGuard interface is down, or the peer is not on it).",
    (p) => p.txBytes,
  ],
];
const FORWARD: Def<ForwardStatus>[] = [
  [
    "porthole_forward_connections_total",
    "counter",
    "New connections forwarded (absent: unknown, the forward's counter is not in the kernel).",
    (f) => f.connectionsTotal,
  ],
  [
    "porthole_forward_packets_total",
    "counter",
    "Packets of forwarded connections, both directions (absent: the backend does not count them).",
    (f) => f.packets,
  ],
  [
    "porthole_forward_bytes_total",
    "counter",
    "Bytes of forwarded connections, both directions (absent: the backend does not count them).",
    (f) => f.bytes,
  ],
  [
    "porthole_forward_established_connections",
    "gauge",
    "TCP connections established now, plus tracked UDP flows (conntrack).",
    (f) => f.establishedConnections,
  ],
];
/**
 * How the last probe ended, as one series per probed forward whose `outcome` label says it (value 1):
 * not one series per possible outcome with zeros, which would make 5 of each forward's series (~2.4x
 * the text at 10,000 forwards) for what one label tells.
 */
const PROBE_OUTCOME: Def<ForwardStatus>[] = [
  [
    "porthole_forward_probe_outcome",
    "gauge",
    "1, labelled with how the hub's last TCP connect to the forward's target ended (outcome: accepted, refused, timeout, unreachable, or error: the probe failed on the hub itself); absent: not probed (UDP or IPv6 only, or not yet: porthole status probes, /metrics does not).",
    (f) => (f.probeOutcome ? 1 : null),
  ],
];
const PROBE_AGE: Def<ForwardStatus>[] = [
  [
    "porthole_forward_probe_age_seconds",
    "gauge",
    "Seconds since that probe (absent: not probed).",
    (f) => (f.probeOutcome ? f.probeAgeSeconds : null),
  ],
];
const BLOCKED: Def<ForwardStatus>[] = [
  [
    "porthole_forward_blocked",
    "gauge",
    "1 if a firewall rule on the hub that porthole does not own drops the forward (or may), else 0.",
    (f) => (f.blockedBy?.length ? 1 : 0),
  ],
];
const FIREWALL: Def<FirewallFinding>[] = [
  [
    "porthole_firewall_drop",
    "gauge",
    "1 per rule or policy porthole does not own that drops its traffic on the hub (path: wireguard, api, forward, mesh; certain: no when a test porthole cannot decide might let it pass).",
    () => 1,
  ],
];
const APPLY: Def<ApplyStats>[] = [
  ["porthole_apply_total", "counter", "Reconciles run by the hub daemon.", (a) => a.total],
  [
    "porthole_apply_failures_total",
    "counter",
    "Reconciles that failed (and were rolled back).",
    (a) => a.failures,
  ],
];

/** The families of `defs` over `items`: each item's labels are rendered once, for all of them. */
function family<T>(defs: Def<T>[], items: T[], labels: (x: T) => Record<string, string>): string[] {
  const texts = items.map((x) => labelText(labels(x)));
  const out: string[] = [];
  for (const [name, type, help, value] of defs) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (let i = 0; i < items.length; i++) {
      const v = value(items[i] as T);
      if (v !== null) out.push(`${name}${texts[i]} ${v}`);
    }
  }
  return out;
}

const labelText = (labels: Record<string, string>) => {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`);
  return l.length ? `{${l.join(",")}}` : "";
};

/** Upper bounds (seconds) of the apply duration histogram: a patch takes ~20 ms, a reload up to seconds. */
export const APPLY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A Prometheus histogram: counts per bucket (not cumulative), sum and count. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += v;
    this.count++;
  }
  render(name: string, help: string): string[] {
    let cumulative = 0;
    return [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} histogram`,
      ...this.buckets.map((b, i) => {
        cumulative += this.counts[i] ?? 0;
        return `${name}_bucket{le="${b}"} ${cumulative}`;
      }),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

export function renderMetrics(s: HubStatus, a: ApplyStats): string {
  const out = [
    "# HELP porthole_build_info The running porthole's version (always 1).",
    "# TYPE porthole_build_info gauge",
    `porthole_build_info${labelText({ version: pkg.version, nodejs: process.version })} 1`,
    ...family(HUB, [s.hub], (h) => ({ interface: h.interface })),
    ...family(PEER, s.peers, (p) => ({ peer: p.name })),
    ...family(FORWARD, s.forwards, (f) => ({ forward: f.name, peer: f.peer })),
    ...countedAt(s),
    ...family(PROBE_OUTCOME, s.forwards, (f) => ({
      forward: f.name,
      peer: f.peer,
      outcome: f.probeOutcome ?? "",
    })),
    ...family(PROBE_AGE, s.forwards, (f) => ({ forward: f.name, peer: f.peer })),
    ...family(BLOCKED, s.forwards, (f) => ({ forward: f.name, peer: f.peer })),
    ...family(FIREWALL, s.firewall ?? [], (f) => ({
      path: f.path,
      where: where(f),
      by: droppedBy(f),
      certain: f.certain ? "yes" : "no",
      forwards: f.forwards.join(","),
    })),
    ...family(APPLY, [a], () => ({})),
    ...a.durations.render("porthole_apply_duration_seconds", "How long reconciles took."),
  ];
  return `${out.join("\n")}\n`;
}

/**
 * When the forward series were counted (the hub may answer with its last count: hub/census.ts), so a
 * graph can tell an old count from a current one; absent from a status without the time.
 */
function countedAt(s: HubStatus): string[] {
  if (!s.countedAt) return [];
  const name = "porthole_forward_counted_timestamp_seconds";
  return [
    `# HELP ${name} When the forwards' counters (porthole_forward_connections_total, _packets_total, _bytes_total, _established_connections) were counted, Unix seconds (the hub answers with its last count when counting takes long).`,
    `# TYPE ${name} gauge`,
    `${name} ${Date.parse(s.countedAt) / 1000}`,
  ];
}

/** porthole_spec_valid: 0 while a hand edit left porthole.yaml invalid (the hub runs on its last valid spec). */
export const specValidMetric = (valid: boolean) =>
  `# HELP porthole_spec_valid 1 if the hub's spec file is valid; 0 while it has errors (the hub keeps the last valid spec).\n# TYPE porthole_spec_valid gauge\nporthole_spec_valid ${valid ? 1 : 0}\n`;
