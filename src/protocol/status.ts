// The hub's status as the API answers it (GET /v1/status, GET /v1/peers): filled in by hub/status.ts,
// rendered as text by hub/status-view.ts, read by the CLI on the hub and on peers.

export interface PeerStatus {
  name: string;
  address: string;
  online: boolean;
  handshakeAgeSeconds: number | null;
  endpoint: string | null;
  rxBytes: number;
  txBytes: number;
  admin: boolean;
  kind: string;
}

export interface ForwardStatus {
  name: string;
  peer: string;
  summary: string;
  mode: string;
  /** Connections opened through this forward: never decreases while the hub runs (see design notes). */
  connectionsTotal: number;
  /** Packets and bytes of its connections, both directions; null: not counted (iptables backend). */
  packets: number | null;
  bytes: number | null;
  /** TCP connections ESTABLISHED now plus tracked UDP flows (not TIME_WAIT); null: unknown. */
  establishedConnections: number | null;
  /** TCP connect from the hub to the target succeeds (null: UDP, not probed). */
  reachable: boolean | null;
}

export interface HubStatus {
  hub: { name: string; interface: string; listenPort: number; address: string; up: boolean };
  peers: PeerStatus[];
  forwards: ForwardStatus[];
}
