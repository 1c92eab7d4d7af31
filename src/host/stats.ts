// Live numbers from the kernel: WireGuard peers, nftables element counters, conntrack entries, and
// whether a target answers a TCP connect.
import { connect } from "node:net";
import { run } from "./run.ts";
import { dumpPeers, type WgDumpPeer } from "./wireguard.ts";

/** The interface's peers with their handshakes and byte counts; null when it does not exist. */
export async function wgPeerStats(iface: string): Promise<WgDumpPeer[] | null> {
  const r = await run(["wg", "show", iface, "dump"], { allowFail: true });
  return r.code === 0 ? dumpPeers(r.stdout) : null;
}

export interface ElementCounter {
  key: (string | number)[];
  packets: number;
  bytes: number;
}

/** Per-element counters of a set or map in table inet porthole ([] when it does not exist). */
export async function nftElementCounters(kind: "set" | "map", name: string): Promise<ElementCounter[]> {
  const r = await run(["nft", "-j", "list", kind, "inet", "porthole", name], { allowFail: true });
  if (r.code !== 0) return [];
  type Elem = {
    elem?: { val: { concat: (string | number)[] } | unknown[]; counter?: { packets: number; bytes: number } };
  };
  const out: ElementCounter[] = [];
  for (const item of (JSON.parse(r.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] })
    .nftables) {
    const body = item[kind];
    for (const e of (body?.elem ?? []) as (Elem | unknown[])[]) {
      // map elements are [key, value] pairs; set elements are {elem: {val, counter}}
      const node = (Array.isArray(e) ? e[0] : e) as Elem;
      const val = node.elem?.val as { concat?: (string | number)[] } | undefined;
      if (!val?.concat || !node.elem?.counter) continue;
      out.push({ key: val.concat, packets: node.elem.counter.packets, bytes: node.elem.counter.bytes });
    }
  }
  return out;
}

export interface ConntrackEntry {
  proto: string;
  /** Destination port the client used (before DNAT). */
  origDport: number;
  /** Where the connection really goes (after DNAT). */
  replySrc: string;
  replySport: number;
}

/** Connections currently tracked whose destination was rewritten (DNAT'd). */
export async function dnatConnections(): Promise<ConntrackEntry[]> {
  const r = await run(["conntrack", "-L"], { allowFail: true });
  if (r.code !== 0) return [];
  const out: ConntrackEntry[] = [];
  for (const line of r.stdout.split("\n")) {
    const proto = line.split(/\s+/)[0];
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1]);
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    const dport = [...line.matchAll(/\bdport=(\d+)/g)].map((m) => Number(m[1]));
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    if (!proto || dst.length < 2 || dst[0] === src[1]) continue;
    out.push({ proto, origDport: dport[0] ?? 0, replySrc: src[1] as string, replySport: sport[1] ?? 0 });
  }
  return out;
}

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("timeout", () => done(false));
    s.once("error", () => done(false));
  });
}
