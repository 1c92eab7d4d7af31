// A peer as the hub's status reports it (GET /v1/peers, HubStatus.peers), for doctor and metrics tests.
import type { PeerStatus } from "../../../src/protocol/status.ts";

/** `name` online at 10.8.0.2: last handshake 50 s ago, last received 4 s ago; `over` changes any field. */
export const peerStatus = (name: string, over: Partial<PeerStatus> = {}): PeerStatus => ({
  name,
  address: "10.8.0.2",
  online: true,
  handshakeAgeSeconds: 50,
  receivedSecondsAgo: 4,
  endpoint: "198.51.100.2:4000",
  rxBytes: 10,
  txBytes: 20,
  admin: false,
  kind: "agent",
  ...over,
});
