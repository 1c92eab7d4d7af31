// Shape of porthole.yaml, checked one section at a time so every section's problems are reported together.
import * as z from "zod";

const name = z.string();

// The enums, also the schemas of the API's and the command line's fields of the same name.
/** forwards[].proto */
export const ProtoShape = z.enum(["tcp", "udp", "tcp+udp"]);
/** forwards[].mode */
export const ModeShape = z.enum(["snat", "transparent"]);
/** hub.firewall */
export const FirewallShape = z.enum(["nftables", "iptables"]);
// Every number in a spec is a whole number: say so, whatever the value ("42069", 1.5, .inf, 1e300).
const whole = () => z.int({ error: "expected a whole number" });
const port = whole();

export const HubShape = z.strictObject({
  name: name.optional(),
  endpoint: z.string(),
  listenPort: port.optional(),
  publicKey: z.string(),
  publicInterface: z.string().optional(),
  interface: z.string().optional(),
  subnet: z.string().optional(),
  subnet6: z.string().optional(),
  address: z.string().optional(),
  address6: z.string().optional(),
  mtu: whole().optional(),
  firewall: FirewallShape.optional(),
  mesh: z.boolean().optional(),
  /** Where snat clients appear to peers: each client's address mapped into this prefix (see checkHub). */
  snatPool: z.string().optional(),
  sshPort: port.optional(),
  /** Ports (or ranges) the hub keeps for its own services: no forward may take them (tcp and udp). */
  reservedPorts: z.array(z.union([whole(), z.string()])).optional(),
  apiPort: port.optional(),
  limits: z.unknown().optional(),
  metricsListen: z.string().optional(),
});

/** hub.limits: what a peer that is not an admin may ask of the API (checked on its own, see checkLimits). */
export const LimitsShape = z.strictObject({
  forwardsPerPeer: whole().optional(),
  portsPerPeer: whole().optional(),
  maxRangeWithoutAdmin: whole().optional(),
});

export const PeerShape = z.strictObject({
  name,
  publicKey: z.string(),
  address: z.string().optional(),
  address6: z.string().optional(),
  keepalive: whole().optional(),
  admin: z.boolean().optional(),
  kind: z.enum(["agent", "device"]).optional(),
});

export const ForwardShape = z.strictObject({
  name,
  proto: ProtoShape.optional(),
  port: z.union([whole(), z.string()]),
  peer: name,
  targetPort: z.union([whole(), z.string()]).optional(),
  mode: ModeShape.optional(),
  allowFrom: z.array(z.string()).optional(),
  /** Take the public port even though a service on the hub listens on it (admins only). */
  shadowHubService: z.boolean().optional(),
});

export const RootShape = z.strictObject({
  version: z.literal(1).optional(),
  hub: z.unknown(),
  peers: z.array(z.unknown()).optional(),
  forwards: z.array(z.unknown()).optional(),
});

export type HubInput = z.infer<typeof HubShape>;
export type PeerInput = z.infer<typeof PeerShape>;
export type ForwardInput = z.infer<typeof ForwardShape>;
