// Shape of porthole.yaml, checked one section at a time so every section's problems are reported together.
import { z } from "zod";

const name = z.string();
const port = z.int();

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
  mtu: z.int().optional(),
  firewall: z.enum(["nftables", "iptables"]).optional(),
  mesh: z.boolean().optional(),
  sshPort: port.optional(),
  apiPort: port.optional(),
});

export const PeerShape = z.strictObject({
  name,
  publicKey: z.string(),
  address: z.string().optional(),
  address6: z.string().optional(),
  keepalive: z.int().optional(),
  admin: z.boolean().optional(),
  kind: z.enum(["agent", "device"]).optional(),
});

export const ForwardShape = z.strictObject({
  name,
  proto: z.enum(["tcp", "udp", "tcp+udp"]).optional(),
  port: z.union([z.int(), z.string()]),
  peer: name,
  targetPort: z.union([z.int(), z.string()]).optional(),
  mode: z.enum(["snat", "transparent"]).optional(),
  allowFrom: z.array(z.string()).optional(),
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
