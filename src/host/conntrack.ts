// Tracked flows (conntrack) that a forward change leaves on an old path: NAT is decided on a flow's
// first packet, so a flow to a public port keeps going where it went (to the hub itself, or to an old
// target) until it is deleted. One dump of the table, matched here, then one `conntrack -R` batch of
// deletes: every `conntrack -D` walks the whole table (~30 ms per walk with 262,144 buckets), so
// deleting per forward does not scale to thousands of ports.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runLines } from "./run.ts";
import type { PublicPort } from "./types.ts";

export interface TrackedFlow {
  family: 4 | 6;
  proto: string;
  /** Original direction: where the client sent it (before DNAT). */
  origDst: string;
  origDport: number;
  /** TCP's conntrack state ("ESTABLISHED", "TIME_WAIT", ...); null for other protocols. */
  state: string | null;
}

/**
 * TCP states of a flow that has ended. Such a flow carries nothing more: a new SYN on its tuple
 * reopens it under the rules as they are now. Its entry is what keeps SNAT from handing its port
 * to another client while the target still holds the connection in TIME_WAIT (60 s, against
 * conntrack's 120 s), which the target would refuse as a stale duplicate (PAWS), so it is kept.
 */
const ENDED = new Set(["TIME_WAIT", "CLOSE"]);

/** One `conntrack -L -o extended` line as a flow ("ipv4 2 udp 17 29 src=… dst=… sport=… dport=… …"); null for any other. */
export function parseConntrackLine(line: string): TrackedFlow | null {
  const m = /^(ipv4|ipv6)\s+\d+\s+(\S+)\s+\d+\s+\d+\s+([A-Z_]+\s)?.*?\bdst=(\S+) .*?\bdport=(\d+)/.exec(line);
  if (!m) return null;
  return {
    family: m[1] === "ipv4" ? 4 : 6,
    proto: m[2] as string,
    origDst: m[4] as string,
    origDport: Number(m[5]),
    state: m[2] === "tcp" && m[3] ? m[3].trim() : null,
  };
}

/** `conntrack -L -o extended` lines as flows; other lines skipped. */
export function parseConntrack(listing: string): TrackedFlow[] {
  return listing.split("\n").flatMap((line) => parseConntrackLine(line) ?? []);
}

const portKey = (family: number, proto: string, port: number) => `${family} ${proto} ${port}`;

/**
 * The `conntrack -R` line that deletes a flow to `ports` on one of `publicAddrs` (the hub's own
 * addresses, where clients reach forwards), null for a flow to keep: flows to other hosts on the same
 * port (the hub's own outgoing connections, masqueraded containers) and TCP flows that have ended
 * (TIME_WAIT, CLOSE: see ENDED). One line covers every flow of an (address, protocol, port) and, for
 * TCP, state. Pure.
 */
export function staleFlowDelete(
  ports: PublicPort[],
  publicAddrs: string[],
): (f: TrackedFlow) => string | null {
  const wanted = new Set(ports.map((p) => portKey(p.family, p.proto, p.port)));
  const local = new Set(publicAddrs);
  return (f) => {
    if (!wanted.has(portKey(f.family, f.proto, f.origDport)) || !local.has(f.origDst)) return null;
    if (f.state && ENDED.has(f.state)) return null;
    const state = f.state ? ` --state ${f.state}` : "";
    return `-D -f ipv${f.family} -p ${f.proto} --orig-dst ${f.origDst} --orig-port-dst ${f.origDport}${state}`;
  };
}

/** The distinct `conntrack -R` delete lines of `flows` (staleFlowDelete). Pure. */
export function staleFlowDeletes(flows: TrackedFlow[], ports: PublicPort[], publicAddrs: string[]): string[] {
  const stale = staleFlowDelete(ports, publicAddrs);
  return [...new Set(flows.flatMap((f) => stale(f) ?? []))];
}

/** The host's addresses but loopback and `except` (e.g. the tunnel's), from `ip -j addr show`. */
export function publicAddresses(ipJson: string, except: string[]): string[] {
  const skip = new Set(except);
  const out: string[] = [];
  for (const link of JSON.parse(ipJson) as { addr_info?: { local?: string; scope?: string }[] }[])
    for (const a of link.addr_info ?? [])
      if (a.local && a.scope !== "host" && !skip.has(a.local)) out.push(a.local);
  return out;
}

/**
 * Deletes the tracked flows to `ports` on the hub's own addresses (all but loopback and `except`),
 * so their next packet meets the rules as they are now. Returns a line for the user: how many flows
 * were deleted, or why none could be (conntrack missing or failing: the rules stand, only flows
 * tracked before the change keep their old path until they go idle).
 */
export async function forgetFlows(ports: PublicPort[], except: string[]): Promise<string> {
  if (ports.length === 0) return "";
  const addrs = await run(["ip", "-j", "addr", "show"], { allowFail: true });
  if (addrs.code !== 0) return unforgotten(addrs.stderr);
  // The table streamed line by line and matched as it comes: at 100,000 entries the listing is ~25 MB,
  // which the daemon would otherwise hold whole (buffers, string, flows) for every changed forward.
  const stale = staleFlowDelete(ports, publicAddresses(addrs.stdout, except));
  const matched = new Set<string>();
  const code = await runLines(["conntrack", "-L", "-o", "extended"], (line) => {
    const flow = parseConntrackLine(line);
    const del = flow && stale(flow);
    if (del) matched.add(del);
  });
  if (code !== 0)
    return unforgotten(code === 127 ? "conntrack: not installed" : `\`conntrack -L\` exited ${code}`);
  const deletes = [...matched];
  if (deletes.length === 0) return "";
  // From a file: conntrack opens "-" as /dev/stdin, which fails on the socket node gives a child.
  const dir = await mkdtemp(join(tmpdir(), "porthole-conntrack-"));
  const file = join(dir, "deletes");
  await writeFile(file, `${deletes.join("\n")}\n`);
  const r = await run(["conntrack", "-R", file], { allowFail: true }).finally(() =>
    rm(dir, { recursive: true, force: true }),
  );
  if (r.code !== 0) return unforgotten(r.stderr);
  // `conntrack -R` prints each entry it deletes, one line each.
  const n = r.stdout.split("\n").filter((l) => l.trim()).length;
  return `deleted ${n} tracked flow${n === 1 ? "" : "s"} that predate this change`;
}

const unforgotten = (stderr: string) =>
  `could not delete the flows tracked before this change (${stderr.trim().split("\n")[0] || "no output"}; is the conntrack tool installed?): they keep their old path until idle (UDP: 30 s without packets)`;
