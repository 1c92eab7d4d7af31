// Read-only facts about the host that `porthole doctor` judges: interface addresses, name resolution,
// systemd units, the porthole daemon, and which WireGuard implementation carries an interface.
import { lookup } from "node:dns/promises";
import { runningDaemon } from "./daemon-pid.ts";
import { run } from "./run.ts";
import { hasSystemd } from "./systemd.ts";
import type { Host, IfaceAddress, WgImplementation } from "./types.ts";

interface AddrJson {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string; dynamic?: boolean }[];
}

/** Parses `ip -j addr show` (every interface's addresses; "dynamic": from DHCP or a router advertisement). */
export function parseAddresses(json: string): IfaceAddress[] {
  return (JSON.parse(json) as AddrJson[]).flatMap((l) =>
    (l.addr_info ?? []).map((a) => ({
      iface: l.ifname,
      family: a.family === "inet6" ? (6 as const) : (4 as const),
      address: a.local,
      prefixlen: a.prefixlen,
      scope: a.scope,
      dynamic: a.dynamic === true,
    })),
  );
}

async function addresses(): Promise<IfaceAddress[]> {
  const r = await run(["ip", "-j", "addr", "show"]);
  return parseAddresses(r.stdout);
}

/** The interfaces the default routes (IPv4 and IPv6) leave by, each once. */
async function defaultInterfaces(): Promise<string[]> {
  const out = await Promise.all(
    (["-4", "-6"] as const).map((f) => run(["ip", f, "-j", "route", "show", "default"], { allowFail: true })),
  );
  const devs = out.flatMap((r) =>
    r.code === 0 && r.stdout.trim()
      ? (JSON.parse(r.stdout) as { dev?: string }[]).map((x) => x.dev ?? "")
      : [],
  );
  return [...new Set(devs.filter(Boolean))];
}

/** The addresses NAME resolves to through the system's resolver (as wg on a peer resolves it); [] when it does not. */
async function resolve(name: string): Promise<string[]> {
  try {
    return (await lookup(name, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/**
 * Which implementation carries a WireGuard interface: a kernel link of kind "wireguard", or a TUN
 * device whose UAPI socket (/run/wireguard/IFACE.sock) a userspace program holds (`ss -x -l -p`).
 * null when the interface does not exist.
 */
async function implementation(iface: string): Promise<WgImplementation | null> {
  const link = await run(["ip", "-j", "-d", "link", "show", "dev", iface], { allowFail: true });
  if (link.code !== 0) return null;
  const info = (JSON.parse(link.stdout) as { linkinfo?: { info_kind?: string } }[])[0];
  if (info?.linkinfo?.info_kind === "wireguard") return { kind: "kernel", program: null, pid: null };
  // wireguard-go names its socket /var/run/wireguard/IFACE.sock (a link to /run/wireguard).
  const ss = await run(["ss", "-H", "-x", "-l", "-p"], { allowFail: true });
  const line = ss.stdout.split("\n").find((l) => l.includes(`/wireguard/${iface}.sock `));
  const m = line ? /\("([^"]+)",pid=(\d+)/.exec(line) : null;
  return { kind: "userspace", program: m?.[1] ?? null, pid: m ? Number(m[2]) : null };
}

export const inspectDriver: Pick<Host, "net" | "services"> & { implementation: typeof implementation } = {
  net: { addresses, defaultInterfaces, resolve },
  services: {
    unit: async (name) => {
      if (!hasSystemd()) return null;
      const [active, enabled] = await Promise.all([
        run(["systemctl", "is-active", "--quiet", name], { allowFail: true }),
        run(["systemctl", "is-enabled", "--quiet", name], { allowFail: true }),
      ]);
      return { active: active.code === 0, enabled: enabled.code === 0 };
    },
    daemon: runningDaemon,
  },
  implementation,
};
