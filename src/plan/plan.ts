// What one host needs, as data (for the apply step) and as files (for `render` and for people).
import type { Family } from "../net/ip.ts";
import type { Backend, Forward, Mode, Proto } from "../spec/types.ts";
import type { NftPlan } from "./nft.ts";

export interface WgPeerPlan {
  name: string;
  publicKey: string;
  allowedIps: string[];
  endpoint?: string;
  keepalive?: number;
}

export interface WgPlan {
  interface: string;
  /** This host's own public key: its private key file must match it. */
  publicKey: string;
  listenPort?: number;
  addresses: string[];
  /**
   * Prefixes routed into the interface beyond its addresses' own (main table, ROUTE_PROTO): a peer's
   * route back to the hub's SNAT pool. wg-quick adds the same from AllowedIPs.
   */
  routes: string[];
  mtu: number;
  /** "off" when the host routes the tunnel itself (transparent mode on a peer). */
  table: "auto" | "off";
  /** Where the host keeps its private key; "" for a device, whose key porthole never holds. */
  privateKeyFile: string;
  /** Only when the hub made a device's key: written into the config shown once to the user. */
  privateKey?: string;
  peers: WgPeerPlan[];
}

/** A jump from a built-in chain into one of porthole's chains (iptables backend). */
export interface IptablesHook {
  family: 4 | 6;
  table: string;
  chain: string;
  target: string;
}

export interface FirewallPlan {
  backend: Backend;
  /**
   * Table `inet porthole` as data (sets and maps beside the chains), loaded as one transaction of its
   * text (compile/nft-text.ts); null when the host needs no rules or the backend is iptables.
   */
  nft: NftPlan | null;
  /** iptables-restore / ip6tables-restore input for porthole's own chains only (loaded with --noflush). */
  iptables: { 4: string; 6: string };
  hooks: IptablesHook[];
}

export interface PolicyRouting {
  fwmark: number;
  /** The fwmark bits porthole owns: it sets and matches only these, other software's bits are kept. */
  mask: number;
  table: number;
  priority: number;
  families: (4 | 6)[];
  device: string;
}

/**
 * A file porthole owns on the host: `path` as on the host ("/etc/sysctl.d/…"; reconcile prefixes the
 * context's root), `content` its whole text, or null when this plan does not need the file (removed
 * if present), `mode` its permission bits.
 */
export interface PlannedFile {
  path: string;
  content: string | null;
  mode: number;
  /** "unit": the systemd unit, which a daemon running inside it leaves alone (its sandbox is read-only there). */
  purpose: "sysctl" | "unit";
}

/** A forward expanded to one public port, protocol and peer address (a range maps 1:1, port by port). */
export interface Target {
  forward: string;
  proto: Proto;
  port: number;
  family: Family;
  /** The peer's address ("10.8.0.2"). */
  addr: string;
  targetPort: number;
  mode: Mode;
  allowFrom: Forward["allowFrom"];
}

export interface HostPlan {
  host: string;
  role: "hub" | "peer";
  wireguard: WgPlan;
  firewall: FirewallPlan;
  sysctl: Record<string, string>;
  routing?: PolicyRouting;
  /**
   * The hub: every forward expanded (compile/targets.ts), in the spec's order; what the ruleset, the
   * SSH guard, foreign-firewall probes and status read. A peer: none.
   */
  targets: Target[];
  /** The files that keep the setup across a reboot: the sysctl file, and the unit when compile was given one. */
  files: PlannedFile[];
}

/** A one-time enrollment key on the hub: its /32 may reach only the hub's API port. */
export interface Enrolling {
  id: string;
  publicKey: string;
  address: string;
}

export const KEY_FILE = "/etc/porthole/private.key";
/**
 * Transparent mode's policy routing on a peer. The mask is the value itself: porthole ORs its bits into
 * marks and matches `fwmark 0x5180/0x5180`, so it never clears or depends on another program's bits.
 */
export const TRANSPARENT = { fwmark: 0x5180, mask: 0x5180, table: 5180, priority: 5180 } as const;

/**
 * The hub's conntrack mark bits for open forwarded connections. `established`: set on a DNAT'd TCP
 * connection by its first packet after the handshake, and on every DNAT'd UDP flow; `closed`: set by a TCP
 * connection's first FIN or RST. Both only ever set, so a closed connection is not marked open again by
 * the ACKs that follow its FIN. Open means `mark & (established | closed) == established`, a test
 * `conntrack -L --mark` makes in the kernel: status lists the open forwarded connections only, not the
 * whole table (TIME_WAIT, the hub's own connections). Other software's ct mark bits are kept; apart
 * from TRANSPARENT's bits.
 */
export const OPEN_MARK = { established: 0x200, closed: 0x400 } as const;

/**
 * The routing protocol number on the routes porthole adds (`ip route … proto 81`): how it finds its own
 * routes again and leaves anyone else's on its interface alone. 81 is unassigned in iproute2's
 * rt_protos and in the kernel's RTPROT_* list.
 */
export const ROUTE_PROTO = 81;

/** "0x5180/0x5180", as `ip rule` takes and shows a masked fwmark. */
export const markText = (r: { fwmark: number; mask: number }) =>
  `0x${r.fwmark.toString(16)}/0x${r.mask.toString(16)}`;
