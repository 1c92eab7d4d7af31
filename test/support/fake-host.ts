// An in-memory host for unit tests of the reconciler: it records every mutating call and can be
// told to fail one of them.
import type { DaemonInfo } from "../../src/host/daemon-pid.ts";
import type { ForeignSnapshot } from "../../src/host/foreign.ts";
import type {
  ConnectResult,
  ElementCounter,
  FirewallState,
  Host,
  HttpProbe,
  IfaceAddress,
  Listener,
  PingResult,
  RouteChoice,
  RouteEntry,
  WgDumpPeer,
  WgImplementation,
  WgPeerState,
  WgState,
} from "../../src/host/types.ts";
import { absentInterface } from "../../src/host/wireguard.ts";
import { publicKeyOf } from "../../src/net/wgkey.ts";
import { nftRuleCount } from "../../src/plan/nft.ts";
import type { IptablesHook, PolicyRouting } from "../../src/plan/plan.ts";
import type { Context } from "../../src/reconcile/reconcile.ts";

export interface FakeHost extends Host {
  calls: string[];
  failOn?: string;
  ifaces: Map<string, WgState>;
  fw: FirewallState;
  fileMap: Map<string, string>;
  sysctls: Map<string, string>;
  routes: boolean;
  /** Other owners' rulesets as observeForeign returns them; addPass/removePasses edit its iptables text. */
  foreign: ForeignSnapshot;
  /** Public ports whose tracked flows were forgotten, per call ("udp/27015"; IPv6 as "udp6/27015"). */
  forgotten: string[][];
  /** What `ss -l` would show (processes are named only when asked for). */
  listeners: Listener[];
  /**
   * What `wg show IFACE dump` adds to a peer of an interface that exists, by public key (a peer not
   * listed: never a handshake, no bytes).
   */
  peerStats: Map<string, Pick<WgDumpPeer, "latestHandshake" | "rxBytes" | "txBytes">>;
  /**
   * Element counters by "set opened_tcp", "set traffic_tcp", or "iptables 4" (DNAT rules); absent: [],
   * while porthole's table (chain) is loaded; without it, none (null).
   */
  counters: Map<string, ElementCounter[]>;
  /** Open DNAT'd connections by "tcp/80/10.8.0.2/8080"; null: conntrack unavailable. */
  open: Map<string, number> | null;
  /** The rules of the table as last loaded (nftRuleCount of the script); absent: not loaded here. */
  loadedNftRules?: number;
  /** Set by a test: the rules the table holds now (someone emptied chains); absent: as loaded. */
  nftRules?: number;
  /** Addresses of the host's interfaces besides its WireGuard ones (those come from `ifaces`). */
  addresses: IfaceAddress[];
  /** The interfaces default routes leave by (default: ens3). */
  defaultVia: string[];
  /** Name -> addresses, for net.resolve. */
  dns: Map<string, string[]>;
  /** systemd's units (null: the host does not run systemd). */
  units: Map<string, { active: boolean; enabled: boolean }> | null;
  /** porthole's daemons running, by role. */
  daemons: Map<string, DaemonInfo>;
  /** What carries each WireGuard interface (default: wireguard-go, pid 4242). */
  wgImpl: Map<string, WgImplementation>;
  /**
   * The network as doctor's and status's probes see it; each defaults to a healthy answer (a connect:
   * accepted; names: `dns`).
   */
  network: {
    ping(address: string, size: number): PingResult;
    route(address: string, mark?: number): RouteChoice | null;
    /** Other programs' routes inside `cidr` (porthole's own, in the interfaces, are added to them). */
    routesWithin(cidr: string): RouteEntry[];
    connect(address: string, port: number): ConnectResult;
    http(url: string): HttpProbe;
  };
  /** Probes sent, in order ("ping 203.0.113.1 1452", "connect 10.8.0.2:8080"). */
  probes: string[];
}

export function fakeHost(files: Record<string, string> = {}): FakeHost {
  const h = {
    calls: [] as string[],
    failOn: undefined as string | undefined,
    ifaces: new Map<string, WgState>(),
    fw: { nft: null, iptables: { 4: null, 6: null }, hooks: [] } as FirewallState,
    fileMap: new Map(Object.entries(files)),
    sysctls: new Map([["net.ipv4.ip_forward", "0"]]),
    routes: false,
    listeners: [] as Listener[],
    foreign: { nft: [], xtables: [], iptables: "nft" } as ForeignSnapshot,
    forgotten: [] as string[][],
    peerStats: new Map(),
    counters: new Map(),
    open: new Map(),
    addresses: [] as IfaceAddress[],
    defaultVia: ["ens3"],
    dns: new Map<string, string[]>(),
    units: null,
    daemons: new Map<string, DaemonInfo>(),
    wgImpl: new Map<string, WgImplementation>(),
    probes: [] as string[],
    network: {
      ping: () => ({ kind: "answered" }),
      route: () => ({ device: "eth0", source: "192.168.1.2", gateway: "192.168.1.1" }),
      routesWithin: () => [],
      connect: () => ({ outcome: "accepted", error: null }),
      http: () => ({ status: 200, remoteMs: Date.now(), localMs: Date.now(), roundTripMs: 1 }),
    } as FakeHost["network"],
  } as FakeHost;
  const act = (name: string) => {
    h.calls.push(name);
    if (h.failOn && name.startsWith(h.failOn)) throw new Error(`injected failure in ${name}`);
  };
  const iface = (n: string) => {
    const i = h.ifaces.get(n);
    if (!i) throw new Error(`Cannot find device "${n}"`);
    return i;
  };
  const sameHook = (a: IptablesHook) => (b: IptablesHook) =>
    a.family === b.family && a.table === b.table && a.chain === b.chain && a.target === b.target;
  /** The interface's peers with their numbers, as `wg show dump` has them (null: no interface). */
  const livePeers = (n: string) => {
    const i = h.ifaces.get(n);
    if (!i) return null;
    const none = { latestHandshake: 0, rxBytes: 0, txBytes: 0 };
    return i.peers.map((p) => ({ ...structuredClone(p), ...none, ...h.peerStats.get(p.publicKey) }));
  };
  h.wg = {
    // As the real host: the peers' numbers come with the state (one `wg show dump`).
    observe: async (n) => {
      const i = h.ifaces.get(n);
      return i ? { ...structuredClone(i), live: livePeers(n) ?? [] } : absentInterface();
    },
    create: async (n) => {
      act(`wg create ${n}`);
      h.ifaces.set(n, {
        exists: true,
        publicKey: null,
        listenPort: null,
        addresses: [],
        routes: [],
        mtu: 1500,
        up: false,
        peers: [],
      });
      return "fake";
    },
    destroy: async (n) => {
      act(`wg destroy ${n}`);
      h.ifaces.delete(n);
      for (const k of h.sysctls.keys()) if (k.includes(`.conf.${n}.`)) h.sysctls.delete(k);
    },
    setPrivateKey: async (n, file) => {
      act(`wg key ${n}`);
      iface(n).publicKey = publicKeyOf(h.fileMap.get(file) ?? "");
    },
    setListenPort: async (n, port) => {
      act(`wg port ${n} ${port}`);
      iface(n).listenPort = port;
    },
    setPeer: async (n, p: WgPeerState) => {
      act(`wg peer ${n} ${p.allowedIps}`);
      const i = iface(n);
      const old = i.peers.find((x) => x.publicKey === p.publicKey);
      const next = { ...p, endpoint: p.endpoint ?? old?.endpoint ?? null };
      i.peers = [...i.peers.filter((x) => x.publicKey !== p.publicKey), next];
    },
    removePeer: async (n, key) => {
      act(`wg rm-peer ${n}`);
      iface(n).peers = iface(n).peers.filter((x) => x.publicKey !== key);
    },
    setEndpoint: async (n, key, endpoint) => {
      act(`wg endpoint ${n}`);
      for (const p of iface(n).peers) if (p.publicKey === key) p.endpoint = endpoint;
    },
    addAddress: async (n, a) => {
      act(`ip addr add ${a}`);
      iface(n).addresses.push(a);
    },
    removeAddress: async (n, a) => {
      act(`ip addr del ${a}`);
      iface(n).addresses = iface(n).addresses.filter((x) => x !== a);
    },
    addRoute: async (n, r) => {
      act(`ip route add ${r}`);
      iface(n).routes.push(r);
    },
    removeRoute: async (n, r) => {
      act(`ip route del ${r}`);
      iface(n).routes = iface(n).routes.filter((x) => x !== r);
    },
    setMtu: async (n, mtu) => {
      act(`ip mtu ${mtu}`);
      iface(n).mtu = mtu;
    },
    setUp: async (n) => {
      act(`ip up ${n}`);
      iface(n).up = true;
    },
    implementation: async (n) =>
      h.ifaces.has(n) ? (h.wgImpl.get(n) ?? { kind: "userspace", program: "wireguard-go", pid: 4242 }) : null,
  };
  h.net = {
    addresses: async () => [
      ...structuredClone(h.addresses),
      ...[...h.ifaces].flatMap(([n, i]) =>
        i.addresses.map((cidr) => {
          const [address = "", len] = cidr.split("/");
          return {
            iface: n,
            family: address.includes(":") ? (6 as const) : (4 as const),
            address,
            prefixlen: Number(len),
            scope: "global",
            dynamic: false,
          };
        }),
      ),
    ],
    defaultInterfaces: async () => [...h.defaultVia],
    resolve: async (name) => h.dns.get(name) ?? (/^[\d.]+$|:/.test(name) ? [name] : []),
  };
  h.services = {
    unit: async (name) => (h.units ? (h.units.get(name) ?? { active: false, enabled: false }) : null),
    daemon: async (_dir, role) => h.daemons.get(role) ?? null,
  };
  h.firewall = {
    observeNft: async () => structuredClone(h.fw.nft),
    // As loaded, unless a test set `nftRules` (someone emptied chains behind porthole's back).
    nftRuleCount: async () => (h.fw.nft ? (h.nftRules ?? h.loadedNftRules ?? null) : null),
    observeIptables: async () => {
      const { nft: _, ...iptables } = structuredClone(h.fw);
      return iptables;
    },
    loadNft: async (script, m) => {
      act("nft load");
      h.fw.nft = { marker: m, generations: [1] };
      h.loadedNftRules = nftRuleCount(script);
      h.nftRules = undefined;
    },
    patchNft: async (_d, m, generations) => {
      act("nft patch");
      if (h.fw.nft === null) throw new Error("nft patch: no table inet porthole");
      h.fw.nft = { marker: m, generations: [...generations, Math.max(0, ...generations) + 1] };
    },
    removeNft: async () => {
      act("nft delete");
      h.fw.nft = null;
    },
    loadIptables: async (f, _t, m) => {
      act(`iptables load ${f}`);
      h.fw.iptables[f] = m;
    },
    removeIptables: async (f) => {
      act(`iptables remove ${f}`);
      h.fw.iptables[f] = null;
    },
    addHook: async (hook) => {
      act(`iptables hook ${hook.table} ${hook.chain}`);
      if (!h.fw.hooks.some(sameHook(hook))) h.fw.hooks.push(hook);
    },
    removeHook: async (hook) => {
      act(`iptables unhook ${hook.table} ${hook.chain}`);
      h.fw.hooks = h.fw.hooks.filter((x) => !sameHook(hook)(x));
    },
    observeForeign: async () => structuredClone(h.foreign),
    observe: async () => ({
      nft: await h.firewall.observeNft(),
      iptables: await h.firewall.observeIptables(),
      foreign: await h.firewall.observeForeign(),
    }),
    addPass: async (iface, at) => {
      act(`pass add ${at.flavour} ${at.family}`);
      const x = h.foreign.xtables.find((t) => t.flavour === at.flavour && t.family === at.family);
      if (!x) throw new Error(`no ${at.flavour} filter table for family ${at.family}`);
      const pass = (d: string) => `-A FORWARD ${d} ${iface} -m comment --comment porthole-pass -j ACCEPT`;
      const lines = x.text.split("\n");
      const at1 = lines.findIndex((l) => l.startsWith("-A FORWARD ") || l === "COMMIT");
      lines.splice(at1, 0, pass("-o"), pass("-i"));
      x.text = lines.join("\n");
    },
    removePasses: async (at) => {
      act(`pass remove${at ? ` ${at.flavour} ${at.family}` : ""}`);
      const removed: string[] = [];
      for (const x of h.foreign.xtables) {
        if (at && (x.flavour !== at.flavour || x.family !== at.family)) continue;
        const lines = x.text.split("\n");
        removed.push(...lines.filter((l) => l.includes("porthole-pass")));
        x.text = lines.filter((l) => !l.includes("porthole-pass")).join("\n");
      }
      return removed;
    },
  };
  h.conntrack = {
    forget: async (ports) => {
      act("conntrack forget");
      h.forgotten.push(ports.map((p) => `${p.proto}${p.family === 6 ? "6" : ""}/${p.port}`).sort());
      return "";
    },
  };
  h.stats = {
    wgPeers: async (n) => livePeers(n),
    // No porthole table (or chain) loaded: nothing counts, as on a real host.
    nftElements: async (kind, name) =>
      h.fw.nft === null ? null : structuredClone(h.counters.get(`${kind} ${name}`) ?? []),
    iptablesDnat: async (family) =>
      h.fw.iptables[family] === null ? null : structuredClone(h.counters.get(`iptables ${family}`) ?? []),
    openConnections: async () => (h.open ? new Map(h.open) : null),
  };
  // Per-interface keys (net.ipv4.conf.wg0.rp_filter) exist only while the interface does, as in /proc/sys;
  // a new interface starts with the kernel's default.
  const ifaceOf = (k: string) => /^net\.ipv[46]\.conf\.([^.]+)\./.exec(k)?.[1];
  const present = (k: string) => {
    const i = ifaceOf(k);
    return (
      i === undefined ||
      i === "all" ||
      i === "default" ||
      h.ifaces.has(i) ||
      h.addresses.some((a) => a.iface === i)
    );
  };
  h.sockets = {
    listening: async (processes) =>
      h.listeners.map((l) => ({ ...structuredClone(l), processes: processes ? l.processes : [] })),
  };
  h.sysctl = {
    get: async (k) => (present(k) ? (h.sysctls.get(k) ?? (ifaceOf(k) ? "0" : null)) : null),
    set: async (k, v) => {
      act(`sysctl ${k}=${v}`);
      if (!present(k))
        throw new Error(`ENOENT: no such file or directory, open '/proc/sys/${k.replaceAll(".", "/")}'`);
      h.sysctls.set(k, v);
    },
  };
  h.routing = {
    observe: async (_r: PolicyRouting) => h.routes,
    apply: async () => {
      act("routing add");
      h.routes = true;
    },
    remove: async () => {
      act("routing remove");
      h.routes = false;
    },
  };
  h.probe = {
    ping: async (a, size) => {
      h.probes.push(`ping ${a} ${size}`);
      return h.network.ping(a, size);
    },
    route: async (a, mark) => h.network.route(a, mark),
    routesWithin: async (c) => [
      ...[...h.ifaces].flatMap(([n, i]) =>
        i.routes.filter((r) => r === c).map((dst) => ({ dst, device: n, type: "unicast" })),
      ),
      ...h.network.routesWithin(c),
    ],
    connect: async (a, port) => {
      h.probes.push(`connect ${a}:${port}`);
      return h.network.connect(a, port);
    },
    datagram: async (a, port) => {
      h.probes.push(`udp ${a}:${port}`);
    },
    http: async (url) => {
      h.probes.push(`http ${url}`);
      return h.network.http(url);
    },
  };
  const locks = new Map<string, Promise<unknown>>();
  h.files = {
    read: async (p) => h.fileMap.get(p) ?? null,
    write: async (p, t) => {
      act(`write ${p}`);
      h.fileMap.set(p, t);
    },
    remove: async (p) => {
      act(`rm ${p}`);
      h.fileMap.delete(p);
    },
    setMode: async (p, mode) => {
      act(`chmod ${mode.toString(8)} ${p}`);
    },
    // One process: holders of a lock take turns.
    lock: (p, fn) => {
      const next = (locks.get(p) ?? Promise.resolve()).then(fn, fn);
      locks.set(
        p,
        next.catch(() => {}),
      );
      return next;
    },
  };
  return h;
}

/** An apply context on the fake host `h`: its key at /k, state at /state (`more` overrides any of it). */
export const fakeContext = (h: FakeHost, more: Partial<Context> = {}): Context => ({
  host: h,
  keyFile: "/k",
  stateDir: "/state",
  root: "/root",
  bin: "porthole",
  ...more,
});
