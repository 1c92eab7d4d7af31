// Benchmark: how often the peer refuses a new connection as an old duplicate (PAWS) in snat mode, for
// the two ways the kernel picks the SNAT source port and for the SNAT pool, side by side in one lab.
//
//   node --import tsx bench/snat-reuse.bench.ts [--rounds 12] [--duration 2]
//
// Without a pool every snat client reaches the peer as the hub's tunnel address. The server closes first
// (`Connection: close`), so the peer holds each ended connection in TIME_WAIT for 60 s and the hub's
// conntrack holds its SNAT binding for 120 s. A new SYN that lands on the peer's TIME_WAIT socket of
// another client's flow carries timestamps from another clock; the peer drops it (PAWS) and the
// client waits out a 1 s SYN retransmit. That can happen only for a port the hub has forgotten while
// the peer still holds it. The bench counts both: the peer's TcpExt PAWS* counters around each run,
// and "forgotten" ports (the peer's TIME_WAIT sockets from the hub with no conntrack entry on the hub).
//
// Variants, each its own forward and peer port so their ports never meet (runs alternate):
//   pool          porthole's own rule with hub.snatPool (as `hub init` writes it): each client from its
//                 own address in 240.0.0.0/8, keeping its port
//   keep          `snat to <hub>`: the client's own source port when it is free, else a random one
//   fully-random  `snat to <hub> fully-random`: a random port for every connection
// Two client addresses take turns (wrk -t2 -c32, `Connection: close`, the client's default sysctls).
// At the end the hub's conntrack is flushed (as a hub restart does) and each variant runs once more.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import { DEFAULTS } from "../src/spec/defaults.ts";
import {
  benchLabName,
  benchLabUp,
  buildServer,
  cliArgs,
  labBenchSpec,
  machineNote,
  markdownTable,
  PORTHOLE,
  pawsCount,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const args = cliArgs();
const rounds = args.number("--rounds", 12, 1, 100);
const duration = args.number("--duration", 2, 1, 30);
requireLabMachine(["wrk", "conntrack"]);
requireBuiltCli();

/** `flags`: the SNAT rule inserted ahead of porthole's with these flags; null: porthole's own (the pool). */
const VARIANTS = [
  {
    name: "pool",
    label: "the pool: the client's own address (porthole's)",
    port: 8003,
    target: 9003,
    flags: null,
  },
  {
    name: "keep",
    label: "the hub's address, the client's port when free",
    port: 8001,
    target: 9001,
    flags: [] as string[],
  },
  {
    name: "fully-random",
    label: "the hub's address, `fully-random`",
    port: 8002,
    target: 9002,
    flags: ["fully-random"],
  },
];
type Variant = (typeof VARIANTS)[number];
interface Run {
  variant: string;
  conns: number;
  paws: number;
  forgotten: number;
  flushed: boolean;
}
const runs: Run[] = [];
const lab = benchLabName("snr");

await withLabs([lab], async () => {
  const { w, keys, dir } = await benchLabUp(lab, "snat-reuse");
  const spec = join(dir, "spec.yaml");
  const fwds = VARIANTS.map((v) => ({ name: v.name, port: v.port, targetPort: v.target }));
  await writeFile(spec, labBenchSpec(keys.hub, keys.peer, "nftables", fwds, { snatPool: DEFAULTS.snatPool }));
  await w.exec("hub", [...PORTHOLE, "apply", "--host", "hub", "--spec", spec], { cwd: REPO });
  // Each variant's own SNAT rule ahead of porthole's (the first SNAT verdict wins).
  for (const v of VARIANTS) {
    if (!v.flags) continue;
    await w.exec("hub", [
      ...[
        "nft",
        "insert",
        "rule",
        "inet",
        "porthole",
        "postrouting",
        "oifname",
        "wg0",
        "ct",
        "status",
        "dnat",
      ],
      ...[
        "ip",
        "daddr",
        "10.8.0.2",
        "tcp",
        "dport",
        String(v.target),
        "snat",
        "ip",
        "to",
        "10.8.0.1",
        ...v.flags,
      ],
    ]);
  }
  const server = await buildServer(dir);
  const srv = await w.spawn("peer", [...server, ...VARIANTS.map((v) => String(v.target))], {
    label: "fast-http",
  });
  await waitForLog(w, srv.log, "listening");

  const clients = [LAB.client, LAB.client2];
  let turn = 0;
  const once = async (v: Variant, flushed: boolean) => {
    const src = clients[turn++ % clients.length] as string;
    await w.exec("client", ["ip", "route", "replace", `${LAB.hubPublic}/32`, "dev", "to-hub", "src", src]);
    const p0 = await pawsCount(w);
    const argv = [
      "wrk",
      "-t2",
      "-c32",
      `-d${duration}s`,
      "-H",
      "Connection: close",
      `http://${LAB.hubPublic}:${v.port}/`,
    ];
    const out = (await w.exec("client", argv, { timeoutMs: (duration + 60) * 1000 })).stdout;
    const conns = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
    const paws = (await pawsCount(w)) - p0;
    const forgotten = await forgottenPorts(w, v);
    runs.push({ variant: v.name, conns, paws, forgotten, flushed });
    console.error(
      `${flushed ? "after flush " : ""}${v.name.padEnd(12)} ${src} ${conns} connections, paws ${paws}, forgotten ${forgotten}`,
    );
  };
  for (let r = 0; r < rounds; r++)
    for (const v of r % 2 ? [...VARIANTS].reverse() : VARIANTS) await once(v, false);
  await w.exec("hub", ["conntrack", "-F"]);
  for (const v of VARIANTS) await once(v, true);
});

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const rows = VARIANTS.map((v) => {
  const load = runs.filter((r) => r.variant === v.name && !r.flushed);
  const after = runs.filter((r) => r.variant === v.name && r.flushed);
  const conns = sum(load.map((r) => r.conns));
  const paws = sum(load.map((r) => r.paws));
  return [
    v.label,
    String(conns),
    String(paws),
    ((paws / conns) * 10_000).toFixed(1),
    String(Math.max(...load.map((r) => r.forgotten))),
    String(sum(after.map((r) => r.paws))),
  ];
});
console.log(`
### snat: refused SYNs at the peer by SNAT source

\`npm run bench:snat-reuse -- --rounds ${rounds} --duration ${duration}\`

${rounds} rounds, the variants alternating (in reverse order every other round), ${duration} s wrk runs (-t2 -c32, \`Connection: close\`) from two client
addresses taking turns; then the hub's conntrack flushed and one run each. ${await machineNote()}

${markdownTable(
  [
    "SNAT source",
    "connections",
    "PAWS-refused SYNs",
    "per 10,000 connections",
    "most forgotten ports at once",
    "refused after a conntrack flush",
  ],
  rows,
)}
`);

/**
 * The peer's TIME_WAIT sockets on V's port whose far end (the hub's address or a pool address, and the
 * SNAT port) the hub's conntrack no longer holds.
 */
async function forgottenPorts(w: World, v: Variant): Promise<number> {
  const ct = (
    await w.exec("hub", ["conntrack", "-L", "-p", "tcp", "--orig-port-dst", String(v.port)], {
      allowFail: true,
    })
  ).stdout;
  const held = new Set<string>();
  // The reply direction's dst and dport: the SNAT address and port the peer answers to.
  for (const line of ct.split("\n")) {
    const dst = [...line.matchAll(/dst=(\S+)/g)][1]?.[1];
    const dport = [...line.matchAll(/dport=(\d+)/g)][1]?.[1];
    if (dst && dport) held.add(`${dst}:${dport}`);
  }
  const ss = (await w.exec("peer", ["ss", "-Htan", "state", "time-wait", `( sport = :${v.target} )`])).stdout;
  let n = 0;
  for (const line of ss.split("\n")) {
    const far = line.trim().split(/\s+/).at(-1);
    if (far && !held.has(far)) n++;
  }
  return n;
}
