// Prometheus text exposition of the hub's status and apply counters.
import type { ApplyStats } from "./service.ts";
import type { HubStatus } from "./status.ts";

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function renderMetrics(s: HubStatus, a: ApplyStats): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels)
        .map(([k, x]) => `${k}="${esc(x)}"`)
        .join(",");
      out.push(`${name}${l ? `{${l}}` : ""} ${v}`);
    }
  };
  const peer = (p: HubStatus["peers"][number]) => ({ peer: p.name });
  const fwd = (f: HubStatus["forwards"][number]) => ({ forward: f.name, peer: f.peer });
  metric(
    "porthole_peer_up",
    "gauge",
    "1 if the peer completed a handshake within 180 s.",
    s.peers.map((p) => [peer(p), p.online ? 1 : 0]),
  );
  metric(
    "porthole_peer_handshake_age_seconds",
    "gauge",
    "Seconds since the latest handshake (-1: never).",
    s.peers.map((p) => [peer(p), p.handshakeAgeSeconds ?? -1]),
  );
  metric(
    "porthole_peer_receive_bytes_total",
    "counter",
    "Bytes received from the peer.",
    s.peers.map((p) => [peer(p), p.rxBytes]),
  );
  metric(
    "porthole_peer_transmit_bytes_total",
    "counter",
    "Bytes sent to the peer.",
    s.peers.map((p) => [peer(p), p.txBytes]),
  );
  metric(
    "porthole_forward_connections_total",
    "counter",
    "New connections forwarded.",
    s.forwards.map((f) => [fwd(f), f.connectionsTotal]),
  );
  metric(
    "porthole_forward_packets_total",
    "counter",
    "Packets of forwarded connections, both directions.",
    s.forwards.map((f) => [fwd(f), f.packets]),
  );
  metric(
    "porthole_forward_bytes_total",
    "counter",
    "Bytes of forwarded connections, both directions.",
    s.forwards.map((f) => [fwd(f), f.bytes]),
  );
  metric(
    "porthole_forward_active_connections",
    "gauge",
    "Connections open now (conntrack).",
    s.forwards.map((f) => [fwd(f), f.activeConnections]),
  );
  metric("porthole_apply_total", "counter", "Reconciles run by the hub daemon.", [[{}, a.total]]);
  metric("porthole_apply_failures_total", "counter", "Reconciles that failed (and were rolled back).", [
    [{}, a.failures],
  ]);
  metric("porthole_apply_duration_seconds", "gauge", "Duration of the latest reconcile.", [
    [{}, a.lastDurationSeconds],
  ]);
  return `${out.join("\n")}\n`;
}
