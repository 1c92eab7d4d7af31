// Prometheus text exposition of the hub's status and apply counters.
import type { ApplyStats } from "./service.ts";
import type { ForwardStatus, HubStatus, PeerStatus } from "./status.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

type Def<T> = [name: string, type: "gauge" | "counter", help: string, value: (x: T) => number];

const PEER: Def<PeerStatus>[] = [
  [
    "porthole_peer_up",
    "gauge",
    "1 if the peer completed a handshake within 180 s.",
    (p) => (p.online ? 1 : 0),
  ],
  [
    "porthole_peer_handshake_age_seconds",
    "gauge",
    "Seconds since the latest handshake (-1: never).",
    (p) => p.handshakeAgeSeconds ?? -1,
  ],
  ["porthole_peer_receive_bytes_total", "counter", "Bytes received from the peer.", (p) => p.rxBytes],
  ["porthole_peer_transmit_bytes_total", "counter", "Bytes sent to the peer.", (p) => p.txBytes],
];
const FORWARD: Def<ForwardStatus>[] = [
  ["porthole_forward_connections_total", "counter", "New connections forwarded.", (f) => f.connectionsTotal],
  [
    "porthole_forward_packets_total",
    "counter",
    "Packets of forwarded connections, both directions.",
    (f) => f.packets,
  ],
  [
    "porthole_forward_bytes_total",
    "counter",
    "Bytes of forwarded connections, both directions.",
    (f) => f.bytes,
  ],
  [
    "porthole_forward_active_connections",
    "gauge",
    "Connections open now (conntrack).",
    (f) => f.activeConnections,
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
  [
    "porthole_apply_duration_seconds",
    "gauge",
    "Duration of the latest reconcile.",
    (a) => a.lastDurationSeconds,
  ],
];

function family<T>(defs: Def<T>[], items: T[], labels: (x: T) => Record<string, string>): string[] {
  return defs.flatMap(([name, type, help, value]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...items.map((x) => {
      const l = Object.entries(labels(x)).map(([k, v]) => `${k}="${esc(v)}"`);
      return `${name}${l.length ? `{${l.join(",")}}` : ""} ${value(x)}`;
    }),
  ]);
}

export function renderMetrics(s: HubStatus, a: ApplyStats): string {
  const out = [
    ...family(PEER, s.peers, (p) => ({ peer: p.name })),
    ...family(FORWARD, s.forwards, (f) => ({ forward: f.name, peer: f.peer })),
    ...family(APPLY, [a], () => ({})),
  ];
  return `${out.join("\n")}\n`;
}
