// The validated, normalized network: defaults applied, addresses allocated, ports parsed.
import type { Addr, Cidr } from "../net/ip.ts";
import type { PortRange } from "../net/ports.ts";

export type Backend = "nftables" | "iptables";
export type Proto = "tcp" | "udp";
export type Mode = "snat" | "transparent";
export type PeerKind = "agent" | "device";

export interface Hub {
  name: string;
  endpoint: { host: string; port: number };
  listenPort: number;
  publicKey: string;
  /** "auto": any non-tunnel interface, for traffic addressed to the hub itself. */
  publicInterface: string;
  interface: string;
  subnet: Cidr;
  subnet6?: Cidr;
  address: Addr;
  address6?: Addr;
  mtu: number;
  firewall: Backend;
  mesh: boolean;
  /**
   * snat clients reach agent peers from this IPv4 prefix, each client's address mapped into it by its
   * low bits (NETMAP), instead of all from the hub's tunnel address; undefined: the hub's address.
   */
  snatPool?: Cidr;
  /**
   * The same for IPv6 snat targets, derived: the last 1/65536 of hub.subnet6 (fd00:8::ffff:0:0:0/80 of
   * fd00:8::/64), which every peer routes already; only with snatPool and a subnet6 of /64 or larger.
   */
  snatPool6?: Cidr;
  sshPort: number;
  /** Public ports no forward may take (both protocols). */
  reservedPorts: PortRange[];
  apiPort: number;
  limits: Limits;
  /** Where the daemon serves /metrics to anyone who can connect (a local Prometheus); null: off. */
  metricsListen: { host: string; port: number } | null;
}

/** What a peer that is not an admin may ask of the hub's API (admins, and edits of the file, may exceed it). */
export interface Limits {
  /** Forwards per peer. */
  forwardsPerPeer: number;
  /** Public ports per peer, counted per protocol (tcp+udp 6000-6009 counts 20). */
  portsPerPeer: number;
  /** The longest port range one forward may span. */
  maxRangeWithoutAdmin: number;
}

export interface Peer {
  name: string;
  publicKey: string;
  address: Addr;
  address6?: Addr;
  keepalive: number;
  admin: boolean;
  kind: PeerKind;
}

export interface Forward {
  name: string;
  protos: Proto[];
  port: PortRange;
  peer: string;
  targetPort: PortRange;
  mode: Mode;
  allowFrom: Cidr[];
  /** The forward takes its public port even though a service on the hub listens on it. */
  shadowHubService: boolean;
}

export interface Spec {
  hub: Hub;
  peers: Peer[];
  forwards: Forward[];
}
