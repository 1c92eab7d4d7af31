// WireGuard through `ip` and `wg`: the kernel module when present, else a userspace implementation
// (wireguard-go by default; $WG_QUICK_USERSPACE_IMPLEMENTATION or $PORTHOLE_WG_USERSPACE to change).

import { ROUTE_PROTO } from "../plan/plan.ts";
import { read } from "./read-batch.ts";
import { run } from "./run.ts";
import type { Host, WgDumpPeer, WgState } from "./types.ts";

const userspaceImpl = () =>
  process.env.PORTHOLE_WG_USERSPACE ?? process.env.WG_QUICK_USERSPACE_IMPLEMENTATION ?? "wireguard-go";

/** What observe reports for an interface that does not exist. */
export function absentInterface(): WgState {
  return {
    exists: false,
    publicKey: null,
    listenPort: null,
    addresses: [],
    routes: [],
    mtu: null,
    up: false,
    peers: [],
  };
}

/**
 * The interface as the kernel and WireGuard have it: three processes, not five (the hub's watch observes
 * every 2 s). One `ip -batch` prints the address listing and porthole's routes in both families (each
 * answer a JSON line); `table all` is what lists both families in one command, so other tables' routes
 * (which name their table) are left out: porthole's are in main. `wg show dump` runs beside it, and its
 * peers' numbers ride along (`WgState.live`) for whoever else wants them from the same look.
 */
async function observe(iface: string): Promise<WgState> {
  // No interface has whitespace in its name (the kernel refuses it), and a line break would start
  // another batch command.
  if (/\s/.test(iface)) return absentInterface();
  const [ipRead, dump] = await Promise.all([
    read(
      ["ip", "-j", "-batch", "-"],
      `addr show dev ${iface}\nroute show table all dev ${iface} proto ${ROUTE_PROTO}\n`,
    ),
    read(["wg", "show", iface, "dump"]),
  ]);
  const empty = absentInterface();
  const [linkJson, routesJson] = ipRead.stdout.split("\n");
  // The batch stops at its first failure: the address listing failed when the interface is missing.
  if (ipRead.code !== 0 || !linkJson || routesJson === undefined) return empty;
  const info = (
    JSON.parse(linkJson) as {
      mtu: number;
      flags: string[];
      addr_info: { local: string; prefixlen: number; scope: string }[];
    }[]
  )[0];
  if (!info) return empty;
  if (dump.code !== 0) return empty; // an interface of that name that is not WireGuard
  const h = (dump.stdout.split("\n")[0] ?? "").split("\t");
  const live = dumpPeers(dump.stdout);
  return {
    exists: true,
    publicKey: h[1] && h[1] !== "(none)" ? h[1] : null,
    listenPort: h[2] ? Number(h[2]) : null,
    addresses: info.addr_info.filter((a) => a.scope !== "link").map((a) => `${a.local}/${a.prefixlen}`),
    routes: mainTableDsts(routesJson),
    mtu: info.mtu,
    up: info.flags.includes("UP"),
    peers: live.map(({ publicKey, endpoint, allowedIps, keepalive }) => ({
      publicKey,
      endpoint,
      allowedIps,
      keepalive,
    })),
    live,
  };
}

/** The main table's routes of an `ip -j route show table all` listing (a route of another table names it). */
export function mainTableDsts(json: string): string[] {
  const routes = json.trim() ? (JSON.parse(json) as { dst: string; table?: string }[]) : [];
  return routes.filter((r) => r.table === undefined || r.table === "main").map((r) => prefixOf(r.dst));
}

/** `ip -j route show` output -> destinations as prefixes ("240.0.0.0/8"; ip writes a host route bare). */
export function routeDsts(json: string): string[] {
  const routes = json.trim() ? (JSON.parse(json) as { dst: string }[]) : [];
  return routes.map((r) => prefixOf(r.dst));
}

const prefixOf = (dst: string) => (dst.includes("/") ? dst : `${dst}/${dst.includes(":") ? 128 : 32}`);

/** The peer lines of `wg show IFACE dump` (the first line is the interface's own). */
export function dumpPeers(dump: string): WgDumpPeer[] {
  return dump
    .trim()
    .split("\n")
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const [publicKey, , endpoint, allowed, handshake, rx, tx, keepalive] = line.split("\t");
      return {
        publicKey: publicKey as string,
        endpoint: endpoint && endpoint !== "(none)" ? endpoint : null,
        allowedIps: allowed && allowed !== "(none)" ? allowed.split(",") : [],
        keepalive: keepalive && keepalive !== "off" ? Number(keepalive) : 0,
        latestHandshake: Number(handshake ?? 0),
        rxBytes: Number(rx ?? 0),
        txBytes: Number(tx ?? 0),
      };
    });
}

/** Creates the interface; returns which implementation carries it. */
async function create(iface: string): Promise<string> {
  const kernel = await run(["ip", "link", "add", "dev", iface, "type", "wireguard"], { allowFail: true });
  if (kernel.code === 0) return "kernel";
  const impl = userspaceImpl();
  const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" };
  // wireguard-go forks its daemon into the process group it was started in: without a session of its
  // own, a Ctrl-C of `porthole join TOKEN && rclone serve …` stopped the tunnel along with rclone.
  await run([impl, iface], { env, detached: true });
  return `userspace (${impl})`;
}

export const wireguardDriver: Omit<Host["wg"], "implementation"> = {
  observe,
  create,
  destroy: async (iface) => {
    await run(["ip", "link", "del", "dev", iface]);
  },
  setPrivateKey: async (iface, keyFile) => {
    await run(["wg", "set", iface, "private-key", keyFile]);
  },
  setListenPort: async (iface, port) => {
    await run(["wg", "set", iface, "listen-port", String(port ?? 0)]);
  },
  setPeer: async (iface, p) => {
    const argv = ["wg", "set", iface, "peer", p.publicKey, "allowed-ips", p.allowedIps.join(",")];
    if (p.endpoint) argv.push("endpoint", p.endpoint);
    argv.push("persistent-keepalive", p.keepalive ? String(p.keepalive) : "off");
    await run(argv);
  },
  removePeer: async (iface, key) => {
    await run(["wg", "set", iface, "peer", key, "remove"]);
  },
  setEndpoint: async (iface, key, endpoint) => {
    await run(["wg", "set", iface, "peer", key, "endpoint", endpoint]);
  },
  addAddress: async (iface, cidr) => {
    await run(["ip", "addr", "add", cidr, "dev", iface]);
  },
  removeAddress: async (iface, cidr) => {
    await run(["ip", "addr", "del", cidr, "dev", iface]);
  },
  addRoute: async (iface, cidr) => {
    // add, not replace: another program's route to the same prefix (a LAN's kernel route) stays; the
    // kernel refuses porthole's instead ("File exists").
    await run(["ip", "route", "add", cidr, "dev", iface, "proto", String(ROUTE_PROTO)]);
  },
  removeRoute: async (iface, cidr) => {
    await run(["ip", "route", "del", cidr, "dev", iface, "proto", String(ROUTE_PROTO)]);
  },
  setMtu: async (iface, mtu) => {
    await run(["ip", "link", "set", "dev", iface, "mtu", String(mtu)]);
  },
  setUp: async (iface) => {
    await run(["ip", "link", "set", "dev", iface, "up"]);
  },
};
