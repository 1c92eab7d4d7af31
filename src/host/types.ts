// What the reconciler sees of a host, and the operations it may ask for. The real host runs
// `wg`, `ip`, `nft`, `iptables-restore`, `sysctl`; tests can substitute a fake.
import type { IptablesHook, PolicyRouting } from "../plan/plan.ts";
import type { DaemonInfo, DaemonRole } from "./daemon-pid.ts";
import type { ForeignSnapshot, PassTarget } from "./foreign.ts";

export interface WgPeerState {
  publicKey: string;
  allowedIps: string[];
  endpoint: string | null;
  keepalive: number;
}

/** A peer as `wg show IFACE dump` reports it: its configuration and what the tunnel has seen. */
export interface WgDumpPeer extends WgPeerState {
  /** Unix seconds of the latest completed handshake; 0 = never. */
  latestHandshake: number;
  /** Bytes received from and sent to this peer since the interface came up. */
  rxBytes: number;
  txBytes: number;
}

export interface WgState {
  exists: boolean;
  publicKey: string | null;
  listenPort: number | null;
  addresses: string[];
  /** Routes into the interface that porthole added (main table, `proto porthole`): "240.0.0.0/8". */
  routes: string[];
  mtu: number | null;
  up: boolean;
  peers: WgPeerState[];
  /**
   * The peers' handshakes and byte counts as `Host.stats.wgPeers` reads them, from the same look (the
   * real host reads them anyway); absent when the host did not read them with the state.
   */
  live?: WgDumpPeer[];
}

/** Table inet porthole as porthole marked it. */
export interface NftState {
  /** Marker of the ruleset porthole last loaded or patched ("unmarked" if the table has none). */
  marker: string;
  /** Marker generations present, ascending (the driver's bookkeeping, handed back to patchNft). */
  generations: number[];
  /** The rules the table's chains hold (Host.firewall.nftRuleCount), when counted; absent: not counted. */
  rules?: number;
}

/** porthole's firewalls and other owners', as one look reads them (Host.firewall.observe). */
export interface FirewallLook {
  nft: NftState | null;
  iptables: IptablesState;
  foreign: ForeignSnapshot;
}

/** porthole's iptables side: its PORTHOLE-* chains (by marker) and hooks. */
export interface IptablesState {
  /** Marker of the chains porthole last loaded, per family (null: no PORTHOLE-* chains). */
  iptables: { 4: string | null; 6: string | null };
  hooks: IptablesHook[];
}

export interface FirewallState extends IptablesState {
  /** null: no table inet porthole. */
  nft: NftState | null;
}

/** Packets and bytes a kernel counter saw. */
export interface Count {
  packets: number;
  bytes: number;
}

/** A counter of one set or map element (or one iptables DNAT rule). */
export interface ElementCounter extends Count {
  /** The element's key as nft writes it in a ruleset: "80", "tcp . 80". */
  key: string;
}

/** A public port of the hub: what tracked flows are forgotten by (see Host.conntrack). */
export interface PublicPort {
  family: 4 | 6;
  proto: "tcp" | "udp";
  port: number;
}

/** A socket that serves on the host: a listening TCP socket or a bound UDP one (`ss -l`). */
export interface Listener {
  proto: "tcp" | "udp";
  /** "0.0.0.0", "::", "*" (both families), or the address it is bound to. */
  address: string;
  /** The device it is bound to (SO_BINDTODEVICE), e.g. "lo". */
  device?: string;
  port: number;
  /** "python3 (pid 1234)", when known (`ss -p`, as root). */
  processes: string[];
}

/** An address on one of the host's interfaces (`ip -j addr`). */
export interface IfaceAddress {
  iface: string;
  family: 4 | 6;
  address: string;
  prefixlen: number;
  /** "global", "link", "host". */
  scope: string;
  /** Configured by DHCP or a router advertisement (SLAAC), with a lifetime. */
  dynamic: boolean;
}

/** What carries a WireGuard interface: the kernel module, or a userspace program (wireguard-go). */
export interface WgImplementation {
  kind: "kernel" | "userspace";
  /** The userspace program holding the interface's UAPI socket, when it could be named. */
  program: string | null;
  pid: number | null;
}

/** One ping with Don't Fragment (`ping -M do`); `mtu` is what the refusal or the ICMP said, when it did. */
export type PingResult =
  | { kind: "answered" }
  | { kind: "too-big"; mtu?: number }
  | { kind: "lost" }
  | { kind: "error"; message: string };

/**
 * A route of the main table (`ip route show`): dst "240.5.0.0/16" (a host route as /32 or /128);
 * device "eth0", null for a route without one; type "unicast", "blackhole", "unreachable"...
 */
export interface RouteEntry {
  dst: string;
  device: string | null;
  type: string;
  /** Who made it (`ip route`'s protocol): "kernel" for a network of an address of this machine; null: not said. */
  protocol?: string | null;
}

/** Where the kernel sends a packet (`ip route get`). */
export interface RouteChoice {
  device: string;
  source: string | null;
  gateway: string | null;
}

/**
 * How a TCP connect ended, the cases a network engineer tells apart: accepted (the handshake
 * completed); refused (a reset came back, or an ICMP port unreachable: ECONNREFUSED — the host is
 * there, nothing accepts on the port, or a firewall rejects it); timeout (nothing came back in time: a
 * drop on the way, or nobody there); unreachable (an ICMP host or network unreachable came back, a
 * firewall's admin-prohibited among them, or this host has no route: EHOSTUNREACH, ENETUNREACH);
 * error (anything else, named in `error`: the probe failed here and says nothing about the target).
 */
export type ConnectOutcome = "accepted" | "refused" | "timeout" | "unreachable" | "error";

/**
 * A TCP connect's outcome, and the error it ended with as Node names it ("ECONNREFUSED",
 * "EHOSTUNREACH", "EMFILE"); null: accepted, or timed out by the caller's timer.
 */
export interface ConnectResult {
  outcome: ConnectOutcome;
  error: string | null;
}

/** A GET's status and the server's Date against this machine's clock (ms since the epoch); or why no answer. */
export type HttpProbe =
  | { status: number; remoteMs: number | null; localMs: number; roundTripMs: number }
  | { error: string };

export interface Host {
  wg: {
    observe(iface: string): Promise<WgState>;
    create(iface: string): Promise<string>;
    destroy(iface: string): Promise<void>;
    setPrivateKey(iface: string, keyFile: string): Promise<void>;
    setListenPort(iface: string, port: number | null): Promise<void>;
    setPeer(iface: string, peer: WgPeerState): Promise<void>;
    removePeer(iface: string, publicKey: string): Promise<void>;
    setEndpoint(iface: string, publicKey: string, endpoint: string): Promise<void>;
    addAddress(iface: string, cidr: string): Promise<void>;
    removeAddress(iface: string, cidr: string): Promise<void>;
    /** A route into the interface (main table), marked as porthole's (ROUTE_PROTO). */
    addRoute(iface: string, cidr: string): Promise<void>;
    removeRoute(iface: string, cidr: string): Promise<void>;
    setMtu(iface: string, mtu: number): Promise<void>;
    setUp(iface: string): Promise<void>;
    /** Kernel or userspace, and which program (read-only); null when the interface does not exist. */
    implementation(iface: string): Promise<WgImplementation | null>;
  };
  firewall: {
    observeNft(): Promise<NftState | null>;
    /**
     * How many rules table inet porthole's chains hold (null: no table, or nft failed). Its marker
     * survives what empties chains and keeps sets (`nft flush table inet porthole`, `flush chain`,
     * `delete rule`); the count tells (plan/nft.ts nftRuleCount). Lists the whole table with its
     * elements (~0.2 s at 10,000 forwards): for `doctor`, not the watch.
     */
    nftRuleCount(): Promise<number | null>;
    observeIptables(): Promise<IptablesState>;
    /** observeNft, observeIptables and observeForeign as one look (the same answers, fewer processes). */
    observe(): Promise<FirewallLook>;
    loadNft(script: string, marker: string): Promise<void>;
    /**
     * Runs element changes (nft commands) on the loaded table inet porthole and moves its marker,
     * atomically; `generations` as observed.
     */
    patchNft(delta: string, marker: string, generations: number[]): Promise<void>;
    removeNft(): Promise<void>;
    loadIptables(family: 4 | 6, text: string, marker: string): Promise<void>;
    removeIptables(family: 4 | 6): Promise<void>;
    addHook(hook: IptablesHook): Promise<void>;
    removeHook(hook: IptablesHook): Promise<void>;
    /** Other owners' rulesets, read only: nft tables with input/forward base chains, each iptables flavour's filter table. */
    observeForeign(): Promise<ForeignSnapshot>;
    /** Accepts the tunnel's traffic (in and out) at the top of FORWARD in one iptables flavour and family, marked "porthole-pass". */
    addPass(iface: string, at: PassTarget): Promise<void>;
    /** Deletes porthole's marked accepts (in one flavour and family, or everywhere); returns the rules deleted. */
    removePasses(at?: PassTarget): Promise<string[]>;
  };
  conntrack: {
    /**
     * Deletes the tracked flows to these public ports on the host's own addresses (all but loopback
     * and `except`), so their next packet meets the rules as they are now. Never throws: returns a
     * line for the user (how many were deleted, or why they could not be), "" when there were none.
     */
    forget(ports: PublicPort[], except: string[]): Promise<string>;
  };
  sockets: {
    /** Listening TCP and bound UDP sockets; `processes` also names their programs (slower). */
    listening(processes: boolean): Promise<Listener[]>;
  };
  /**
   * Live numbers from the kernel, read only: what status, metrics, the peer agent and doctor look at.
   * None of them throws for a missing interface, table or tool: each says so in its result.
   */
  stats: {
    /**
     * The interface's peers (`wg show IFACE dump`) with their latest handshake (Unix seconds, 0 =
     * never) and byte counts; null when the interface does not exist.
     */
    wgPeers(iface: string): Promise<WgDumpPeer[] | null>;
    /**
     * Per-element packet and byte counters of a set or map in table inet porthole (e.g. set
     * "opened_tcp" or "traffic_tcp", keyed "80"); null when it does not exist (no porthole table:
     * nothing counts) or nft failed.
     */
    nftElements(kind: "set" | "map", name: string): Promise<ElementCounter[] | null>;
    /**
     * The counters of the DNAT rules in porthole's iptables chain PORTHOLE-PREROUTING, keyed "tcp . 80"
     * (the nat table sees a connection's first packet only: packets = new connections); null when the
     * chain is not loaded (nothing counts) or iptables-save failed.
     */
    iptablesDnat(family: 4 | 6): Promise<ElementCounter[] | null>;
    /**
     * Connections open now whose destination was rewritten (DNAT), counted by
     * "proto/public port/target address/target port" ("tcp/80/10.8.0.2/8080"): TCP in state
     * ESTABLISHED, every tracked UDP flow. null: conntrack is missing or failed.
     */
    openConnections(families: (4 | 6)[], protos: ("tcp" | "udp")[]): Promise<Map<string, number> | null>;
  };
  sysctl: {
    get(key: string): Promise<string | null>;
    set(key: string, value: string): Promise<void>;
  };
  routing: {
    observe(r: PolicyRouting): Promise<boolean>;
    apply(r: PolicyRouting): Promise<void>;
    remove(r: PolicyRouting): Promise<void>;
  };
  /** Read-only: what `porthole doctor` looks at besides the above. */
  net: {
    /** Every address of every interface. */
    addresses(): Promise<IfaceAddress[]>;
    /** The interfaces the default routes leave by (IPv4 and IPv6, each once). */
    defaultInterfaces(): Promise<string[]>;
    /** The addresses a name resolves to through the system's resolver; [] when it does not resolve. */
    resolve(name: string): Promise<string[]>;
  };
  services: {
    /** systemd's view of a unit; null when systemd does not run this host. */
    unit(name: string): Promise<{ active: boolean; enabled: boolean } | null>;
    /** porthole's daemon of this role running now (its pid file in `stateDir`), or null. */
    daemon(stateDir: string, role: DaemonRole): Promise<DaemonInfo | null>;
  };
  /**
   * Read-only probes of the network (doctor; status's probe of the forwards' targets); each sends only
   * to the address it is given.
   */
  probe: {
    /** One ICMP echo of `size` payload bytes with Don't Fragment, waiting up to `timeoutMs`. */
    ping(address: string, size: number, timeoutMs: number): Promise<PingResult>;
    /** The route the kernel picks for `address`, as a packet carrying `mark` when given; null: none. */
    route(address: string, mark?: number): Promise<RouteChoice | null>;
    /** The main table's routes to `cidr` or to prefixes inside it (`ip route show root`), any owner. */
    routesWithin(cidr: string): Promise<RouteEntry[]>;
    /** A TCP connect to `address`:`port`, closed at once; `timeoutMs`: how long to wait for an answer. Never throws. */
    connect(address: string, port: number, timeoutMs: number): Promise<ConnectResult>;
    /** Sends one UDP datagram (no answer is awaited: UDP has none to wait for). */
    datagram(address: string, port: number, payload: string): Promise<void>;
    http(url: string, timeoutMs: number): Promise<HttpProbe>;
  };
  /** Files porthole owns (its state, spec, keys, the API socket): the daemons reach them only here. */
  files: {
    /** The file's text; null when it does not exist. */
    read(path: string): Promise<string | null>;
    /** Replaces the file atomically (parent directories made), with `mode` (default 0644) from the start. */
    write(path: string, text: string, mode?: number): Promise<void>;
    /** Removes a file (or a unix socket); nothing when it is not there. */
    remove(path: string): Promise<void>;
    /** Sets a file's permission bits (e.g. 0o600 for the root-only API socket). */
    setMode(path: string, mode: number): Promise<void>;
    /**
     * Runs `fn` while holding the lock file `path` (one holder at a time across processes, and queued
     * within this one; a lock whose owner died is taken over). Throws after `timeoutMs` (default 10 s)
     * naming the process that holds it.
     */
    lock<T>(path: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
    /**
     * Atomically replaces `to` with what `from` holds now, without copying the data (a hard link
     * renamed into place); false if `from` does not exist. Optional: without it, read and write.
     */
    keep?(from: string, to: string): Promise<boolean>;
    /**
     * A string that changes whenever the file's contents may have (its inode, size, and modification
     * and change times in ns), for a reader that keeps what it read: taken before a read, an equal stamp
     * later means the file still holds that text. null: absent, or changed within the last
     * STAMP_SETTLED_MS (a write in the same clock tick could leave the times as they were: read it).
     * Optional: without it, callers read every time.
     */
    stamp?(path: string): Promise<string | null>;
  };
}
