// Benchmark: porthole against the physical limit and the rivals, side by side in one lab and one run.
//
//   node --import tsx bench/relay.bench.ts [--rounds 2] [--duration 2] [--forwards 10000] [--conn-only] [--paired]
//                                         [--states porthole,porthole-many,porthole-hub-address,seed,nftmap,bare]
//
// --paired (new connections alone): two labs under load at the same time, porthole snat in one and each
// other configuration of the same shape (seed, nftmap, transparent, N forwards, no pool) in the other,
// swapped every round: both runs of a pair meet the same background load, so on a shared, noisy machine
// the pair's ratio is the configurations' own. Not for the direct tunnel or plain routing: see pairedRun.
//
// --conn-only measures new connections/s alone (no latency, iperf3 or download): a round takes ~1/4 of
// the time, so many more rounds fit, and the spread of each ratio (quartiles over rounds) says how far
// the medians can be trusted on a noisy machine.
//
// Configurations (the hub's data plane is switched between "states"; each state also measures the
// direct tunnel, so every ratio pairs two runs made minutes, not rounds, apart):
//   direct        a client on the hub itself to the peer's tunnel address (the limit: wireguard-go)
//   routed        the client to the peer's tunnel address, routed by the hub with no NAT: the extra hop
//                 (client -> hub -> tunnel) with conntrack off (no ruleset) and on (beside the nft map)
//   snat, transp. porthole's forwards (snat and transparent), 1 forward set, then with N more forwards;
//                 snat clients mapped into hub.snatPool (as `hub init` writes the spec), and once more
//                 without the pool (every client from the hub's tunnel address: "porthole-hub-address")
//   seed          the blog post's hand-written iptables lines (DNAT, SNAT, FORWARD), no porthole table
//   nftmap        a minimal nft ruleset: one verdict map for DNAT, one SNAT rule, nothing else
//   haproxy/socat userspace relays on the hub (mode tcp / fork per connection), the frp/rathole class
// Metrics: new connections/s (wrk -H "Connection: close" against bench/support/fast-http.c), keep-alive
// latency p50/p99 (wrk --latency, 4 connections), throughput both ways (iperf3), 50 MB download (curl).
// Multi-client: the client's source address alternates between two addresses every connection-rate run
// (a route's src), and the peer's TcpExt PAWS* counters are read around each run (refused SYNs).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LabHost } from "../src/lab/state.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import { DEFAULTS } from "../src/spec/defaults.ts";
import {
  benchLabName,
  benchLabUp,
  buildServer,
  cliArgs,
  machineNote,
  markdownTable,
  median,
  PORTHOLE,
  pawsCount,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const args = cliArgs();
const rounds = args.number("--rounds", 2, 1, 50);
const duration = args.number("--duration", 2, 1, 30);
const N = args.number("--forwards", 10_000, 1, 40_000);
const paired = args.flag("--paired");
const connOnly = args.flag("--conn-only") || paired;
const command = ["npm run bench:relay --", ...process.argv.slice(2)].join(" ");
requireLabMachine(["wrk", "iperf3", "haproxy", "socat", "conntrack"]);
requireBuiltCli();

// Target ports on the peer: snat targets, transparent targets (one mode per target).
const T = {
  snat: { conn: 9001, http: 9101, iperf: 5301 },
  transparent: { conn: 9002, http: 9102, iperf: 5302 },
} as const;
type Ports = { conn: number; http: number; iperf: number };
/**
 * Each configuration's own connection-rate port on the peer: all of them reach the peer from the hub's
 * tunnel address, and the peer's TIME_WAIT sockets of one (60 s) must not meet another's new SYNs.
 */
const CONN_TARGET: Record<string, number> = {
  snat: 9001,
  transparent: 9002,
  seed: 9003,
  nftmap: 9004,
  haproxy: 9005,
  socat: 9006,
  direct: 9007,
  routed: 9008,
};
/** The peer port CONFIG reaches for metric K. */
const tgt = (config: string, k: keyof Ports): number =>
  k === "conn" ? (CONN_TARGET[config] as number) : T[config === "transparent" ? "transparent" : "snat"][k];
/** Public ports on the hub that each configuration listens on. */
const PUB: Record<string, Ports> = {
  snat: { conn: 8001, http: 8101, iperf: 5201 },
  transparent: { conn: 8002, http: 8102, iperf: 5202 },
  seed: { conn: 8001, http: 8101, iperf: 5201 },
  nftmap: { conn: 8001, http: 8101, iperf: 5201 },
  haproxy: { conn: 18001, http: 18101, iperf: 15201 },
  socat: { conn: 28001, http: 28101, iperf: 25201 },
};
type State = "porthole" | "porthole-many" | "porthole-hub-address" | "seed" | "nftmap" | "bare";
const ALL_STATES: State[] = ["porthole", "porthole-many", "porthole-hub-address", "seed", "nftmap", "bare"];
/** --states a,b: only these states (the others' columns read NaN), e.g. to pair two of them over many rounds. */
const STATES: State[] = (() => {
  const v = args.value("--states");
  if (v === undefined) return ALL_STATES;
  const list = v.split(",") as State[];
  const bad = list.filter((x) => !ALL_STATES.includes(x));
  if (bad.length || !list.length) {
    console.error(`--states: ${JSON.stringify(v)} is not accepted; give some of ${ALL_STATES.join(", ")}`);
    process.exit(2);
  }
  return list;
})();
const CONFIGS: Record<State, string[]> = {
  porthole: ["direct", "snat", "transparent"],
  "porthole-many": ["direct", "snat", "transparent"],
  // porthole without hub.snatPool: every snat client from the hub's tunnel address.
  "porthole-hub-address": ["direct", "snat"],
  seed: ["direct", "seed"],
  nftmap: ["direct", "nftmap", "routed", "haproxy", "socat"],
  // No ruleset at all: the kernel does not track connections in the hub's namespace.
  bare: ["direct", "routed"],
};
const CLIENTS = [LAB.client, LAB.client2];

interface Sample {
  state: State;
  config: string;
  round: number;
  conn: number;
  /** The direct tunnel's connection rate, measured just before `conn` (the pair's ratio is the cell). */
  connDirect: number;
  paws: number;
  up: number;
  down: number;
  p50: number;
  p99: number;
  dl: number;
}
const samples: Sample[] = [];
const lab = benchLabName("rly");

type Specs = { one: string; many: string; hubAddress: string };

/** A lab for this bench: porthole's specs written and applied on the peer, the servers and relays running. */
async function bed(name: string): Promise<{ w: World; specs: Specs }> {
  const { w, keys, dir } = await benchLabUp(name, "relay");
  const specs = {
    one: join(dir, "one.yaml"),
    many: join(dir, "many.yaml"),
    hubAddress: join(dir, "hub-address.yaml"),
  };
  await writeFile(specs.one, spec(keys.hub, keys.peer, 0));
  await writeFile(specs.many, spec(keys.hub, keys.peer, N));
  await writeFile(specs.hubAddress, spec(keys.hub, keys.peer, 0, false));
  await w.exec("peer", [...PORTHOLE, "apply", "--host", "rpi", "--spec", specs.one], { cwd: REPO });
  // "routed": the peer answers the clients' own addresses through the tunnel (its AllowedIPs for the
  // hub are 0.0.0.0/0 already: the spec has transparent forwards).
  for (const c of CLIENTS) await w.exec("peer", ["ip", "route", "replace", `${c}/32`, "dev", "wg0"]);

  // Servers on the peer.
  const fast = await buildServer(dir);
  const conn = await w.spawn("peer", [...fast, ...Object.values(CONN_TARGET).map(String)], {
    label: "fast-http",
  });
  await waitForLog(w, conn.log, "listening");
  const blob = await w.spawn(
    "peer",
    [
      process.execPath,
      join(REPO, "bench/support/blob-http.mjs"),
      String(T.snat.http),
      String(T.transparent.http),
    ],
    { label: "blob-http" },
  );
  await waitForLog(w, blob.log, "listening");
  for (const p of [T.snat.iperf, T.transparent.iperf])
    await w.spawn("peer", ["iperf3", "-s", "-p", String(p)], { label: `iperf3-${p}` });
  // Userspace relays on the hub, always running (they listen on ports no ruleset touches).
  const haCfg = join(dir, "haproxy.cfg");
  await writeFile(haCfg, haproxyConfig());
  await w.spawn("hub", ["haproxy", "-db", "-f", haCfg], { label: "haproxy" });
  for (const k of ["conn", "http", "iperf"] as const)
    await w.spawn(
      "hub",
      [
        "socat",
        `TCP-LISTEN:${PUB.socat?.[k]},fork,reuseaddr,backlog=4096`,
        `TCP:10.8.0.2:${tgt("socat", k)}`,
      ],
      { label: `socat-${k}` },
    );
  for (const h of ["client", "hub"] as LabHost[])
    await w.exec(h, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", "net.ipv4.tcp_tw_reuse=1"]);
  await new Promise((r) => setTimeout(r, 500));

  return { w, specs };
}

if (!paired)
  await withLabs([lab], async () => {
    const { w, specs } = await bed(lab);
    let clientTurn = 0;
    // A warm-up run, not counted: the first run after the lab is built read ~25 % low in earlier runs
    // (always round 0's first configuration), which moved a 4-round median by itself.
    await install(w, STATES[0] as State, specs);
    await measure(w, CONFIGS[STATES[0] as State][1] ?? "direct", CLIENTS[0] as string);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...STATES].reverse() : STATES;
      for (const state of order) {
        await install(w, state, specs);
        for (const config of CONFIGS[state]) {
          const src = CLIENTS[clientTurn++ % CLIENTS.length] as string;
          const s = await measure(w, config, src);
          samples.push({ state, config, round: r, ...s });
          console.error(
            `round ${r} ${state.padEnd(13)} ${config.padEnd(11)} ${Math.round(s.conn)} conn/s (paws ${s.paws})` +
              (connOnly
                ? ""
                : `, ${(s.up / 1e6).toFixed(0)}/${(s.down / 1e6).toFixed(0)} Mbit/s, p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms, 50 MB ${s.dl.toFixed(2)} s`),
          );
        }
      }
    }
  });

// ------------------------------------------------------------------------------------------------
// report: per configuration, the median over rounds of (config / direct of the same state and round)

type Metric = "conn" | "up" | "down" | "p50" | "p99" | "dl";
const METRICS: [Metric, string][] = [
  ["conn", "new connections/s"],
  ["up", "throughput client→peer"],
  ["down", "throughput peer→client"],
  ["p50", "keep-alive latency p50"],
  ["p99", "keep-alive latency p99"],
  ["dl", "50 MB download time"],
];
const COLUMNS: [State, string, string][] = [
  ["bare", "routed", "routed, no NAT, conntrack off (the hop)"],
  ["nftmap", "routed", "routed, no NAT, conntrack on"],
  ["porthole", "snat", "porthole snat"],
  ["porthole-hub-address", "snat", "porthole snat, no pool (the hub's address)"],
  ["porthole", "transparent", "porthole transparent"],
  ["porthole-many", "snat", `porthole snat, ${N.toLocaleString("en-US")} forwards`],
  ["porthole-many", "transparent", `porthole transparent, ${N.toLocaleString("en-US")} forwards`],
  ["seed", "seed", "seed's iptables lines"],
  ["nftmap", "nftmap", "minimal nft map"],
  ["nftmap", "haproxy", "haproxy (tcp)"],
  ["nftmap", "socat", "socat"],
];
/** Each round's config / direct for metric M (new connections: / the direct run just before it). */
const ratios = (state: State, config: string, m: Metric) => {
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = samples.find((s) => s.state === state && s.config === config && s.round === r);
    const d = samples.find((s) => s.state === state && s.config === "direct" && s.round === r);
    if (m === "conn" && a) xs.push(a.conn / a.connDirect);
    else if (a && d && d[m] > 0) xs.push(a[m] / d[m]);
  }
  return xs;
};
/** The q-quantile of XS (linear between the closest ranks). */
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = s[Math.floor(i)] as number;
  return lo + ((s[Math.ceil(i)] as number) - lo) * (i - Math.floor(i));
};
if (paired) {
  await pairedRun();
  process.exit(0);
}
const cell = (xs: number[]) => median(xs).toFixed(2);
const measured: [Metric, string][] = connOnly ? METRICS.slice(0, 1) : METRICS;
const rows = measured.map(([m, label]) => [label, ...COLUMNS.map(([st, c]) => cell(ratios(st, c, m)))]);
const spreadRow = [
  "new connections/s, middle half of the rounds",
  ...COLUMNS.map(([st, c]) => {
    const xs = ratios(st, c, "conn");
    return xs.length > 1 ? `${quantile(xs, 0.25).toFixed(2)}–${quantile(xs, 0.75).toFixed(2)}` : "–";
  }),
];
const directRow = (m: Metric) => median(samples.filter((s) => s.config === "direct").map((s) => s[m]));
const pawsRow = [
  "PAWS-refused SYNs at the peer (sum)",
  ...COLUMNS.map(([st, c]) =>
    String(samples.filter((s) => s.state === st && s.config === c).reduce((a, s) => a + s.paws, 0)),
  ),
];
const pair = (a: [State, string], b: [State, string]) => {
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = samples.find((s) => s.state === a[0] && s.config === a[1] && s.round === r);
    const y = samples.find((s) => s.state === b[0] && s.config === b[1] && s.round === r);
    if (x && y) xs.push(x.conn / y.conn);
  }
  return xs.length > 1
    ? `${median(xs).toFixed(2)} (${quantile(xs, 0.25).toFixed(2)}–${quantile(xs, 0.75).toFixed(2)})`
    : median(xs).toFixed(2);
};

console.log(`
### Relay: porthole against the direct tunnel and the rivals (ratios to the direct tunnel)

\`${command}\`

${rounds} rounds, states in alternating order (porthole with 1 forward set, with ${N.toLocaleString("en-US")} more, without the SNAT pool,
the seed's lines, a minimal nft map with haproxy, socat and plain routing beside it, no ruleset at all with plain
routing); each state measures the direct tunnel too and each cell is the median over rounds of config / direct
of the same state and round (new connections: config / a direct run made just before it). ${duration} s per
wrk/iperf3 run; wrk -t2 -c32 \`Connection: close\` (fast-http.c) for new connections${connOnly ? " (alone: --conn-only)" : `, wrk -t1 -c4 keep-alive\nfor latency (node:http), iperf3 -t ${duration} both ways, curl of 50 MB (node:http)`}. The client's source
address alternates between ${CLIENTS.join(" and ")} each run. ${await machineNote()}

Direct tunnel (medians): ${Math.round(directRow("conn"))} connections/s${
  connOnly
    ? "."
    : `, ${(directRow("up") / 1e6).toFixed(0)} / ${(directRow("down") / 1e6).toFixed(0)} Mbit/s,
latency p50 ${directRow("p50").toFixed(2)} ms / p99 ${directRow("p99").toFixed(2)} ms, 50 MB in ${directRow("dl").toFixed(2)} s.`
}

${markdownTable(["metric (config / direct)", ...COLUMNS.map(([, , l]) => l)], [rows[0] as string[], spreadRow, ...rows.slice(1), pawsRow])}

New connections, pairs in the same round (median, middle half in brackets): porthole snat / seed's lines ${pair(["porthole", "snat"], ["seed", "seed"])},
porthole snat / minimal nft map ${pair(["porthole", "snat"], ["nftmap", "nftmap"])}, porthole snat pool / hub's address ${pair(["porthole", "snat"], ["porthole-hub-address", "snat"])}, porthole snat ${N.toLocaleString("en-US")} / 1 ${pair(["porthole-many", "snat"], ["porthole", "snat"])};
the kernel's share: routed with conntrack on / off ${pair(["nftmap", "routed"], ["bare", "routed"])}, minimal nft map / routed with conntrack on ${pair(["nftmap", "nftmap"], ["nftmap", "routed"])}.
`);

// ------------------------------------------------------------------------------------------------

/** porthole's spec with EXTRA more forwards; `pool`: with hub.snatPool, as `hub init` writes it. */
function spec(hubKey: string, peerKey: string, extra: number, pool = true): string {
  const lines = [
    "version: 1",
    "hub:",
    `  endpoint: ${LAB.hubPublic}`,
    "  listenPort: 51820",
    `  publicKey: ${hubKey}`,
    "  publicInterface: ens3",
    "  firewall: nftables",
    ...(pool ? [`  snatPool: ${DEFAULTS.snatPool}`] : []),
    "peers:",
    "  - name: rpi",
    `    publicKey: ${peerKey}`,
    "    address: 10.8.0.2",
    "forwards:",
  ];
  const fwd = (name: string, port: number, target: number, mode: string) =>
    lines.push(`  - { name: ${name}, port: ${port}, peer: rpi, targetPort: ${target}, mode: ${mode} }`);
  // The extra forwards come first, so the measured ones are the last elements added.
  for (let i = 0; i < extra; i++) fwd(`x${i}`, 30_000 + i, 30_000 + i, "snat");
  for (const mode of ["snat", "transparent"] as const)
    for (const k of ["conn", "http", "iperf"] as const)
      fwd(`${mode}-${k}`, PUB[mode]?.[k] as number, tgt(mode, k), mode);
  return `${lines.join("\n")}\n`;
}

function seedRules(): string[][] {
  const out: string[][] = [];
  for (const k of ["conn", "http", "iperf"] as const) {
    const pub = String(PUB.seed?.[k]);
    const to = String(tgt("seed", k));
    // The blog post's lines, for each port: DNAT, SNAT, and its strict FORWARD rules.
    out.push(
      [
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-i",
        "ens3",
        "-p",
        "tcp",
        "--dport",
        pub,
        "-j",
        "DNAT",
        "--to-destination",
        `10.8.0.2:${to}`,
      ],
      [
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-o",
        "wg0",
        "-p",
        "tcp",
        "-d",
        "10.8.0.2",
        "--dport",
        to,
        "-j",
        "SNAT",
        "--to-source",
        "10.8.0.1",
      ],
      [
        "-A",
        "FORWARD",
        "-i",
        "ens3",
        "-o",
        "wg0",
        "-d",
        "10.8.0.2",
        "-p",
        "tcp",
        "--dport",
        to,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "ACCEPT",
      ],
    );
  }
  out.push(
    [
      "-A",
      "FORWARD",
      "-i",
      "ens3",
      "-o",
      "wg0",
      "-m",
      "conntrack",
      "--ctstate",
      "ESTABLISHED,RELATED",
      "-j",
      "ACCEPT",
    ],
    [
      "-A",
      "FORWARD",
      "-i",
      "wg0",
      "-o",
      "ens3",
      "-m",
      "conntrack",
      "--ctstate",
      "ESTABLISHED,RELATED",
      "-j",
      "ACCEPT",
    ],
  );
  return out;
}

function nftMap(): string {
  const el = (["conn", "http", "iperf"] as const).map(
    (k) => `${PUB.nftmap?.[k]} : 10.8.0.2 . ${tgt("nftmap", k)}`,
  );
  return `table ip relaymap {
  map ports {
    type inet_service : ipv4_addr . inet_service
    elements = { ${el.join(", ")} }
  }
  chain to_peer {
    type nat hook prerouting priority dstnat;
    iifname "ens3" meta l4proto tcp dnat ip to tcp dport map @ports
  }
  chain from_hub {
    type nat hook postrouting priority srcnat;
    oifname "wg0" ct status dnat snat ip to 10.8.0.1
  }
}
`;
}

function haproxyConfig(): string {
  const out = [
    "global",
    "  maxconn 8000",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
  ];
  for (const k of ["conn", "http", "iperf"] as const)
    out.push(
      `listen l${k}`,
      `  bind ${LAB.hubPublic}:${PUB.haproxy?.[k]}`,
      `  server s 10.8.0.2:${tgt("haproxy", k)}`,
    );
  return `${out.join("\n")}\n`;
}

/** Puts the hub's data plane into STATE (porthole's table, the seed's lines, or the minimal map). */
async function install(
  w: World,
  state: State,
  specs: { one: string; many: string; hubAddress: string },
): Promise<void> {
  const hub = (argv: string[], allowFail = false) => w.exec("hub", argv, { allowFail, cwd: REPO });
  // Remove the others' rules (iptables-nft keeps them in tables ip nat / ip filter).
  await hub(["nft", "delete", "table", "ip", "relaymap"], true);
  await hub(["iptables", "-w", "-t", "nat", "-F"], true);
  await hub(["iptables", "-w", "-F", "FORWARD"], true);
  if (state === "porthole" || state === "porthole-many" || state === "porthole-hub-address") {
    const file = {
      porthole: specs.one,
      "porthole-many": specs.many,
      "porthole-hub-address": specs.hubAddress,
    };
    await hub([...PORTHOLE, "apply", "--host", "hub", "--spec", file[state]]);
  } else {
    await hub(["nft", "delete", "table", "inet", "porthole"], true);
    if (state === "seed") for (const rule of seedRules()) await hub(["iptables", "-w", ...rule]);
    else if (state === "nftmap") await w.exec("hub", ["nft", "-f", "-"], { input: nftMap() });
    else {
      // No table at all (iptables-nft leaves its flushed ones, whose base chains would keep conntrack on).
      for (const t of ["nat", "filter"]) await hub(["nft", "delete", "table", "ip", t], true);
      const left = (await hub(["nft", "list", "tables"])).stdout.trim();
      if (left) throw new Error(`bare: the hub still has tables: ${left}`);
    }
  }
  // Every configuration of the state answers before it is measured.
  for (const config of CONFIGS[state]) {
    const url = `http://${target(config).addr}:${target(config).ports.conn}/`;
    const r = await w.exec(config === "direct" ? "hub" : "client", ["curl", "-sS", "-m", "5", url], {
      allowFail: true,
    });
    if (r.stdout.trim() !== "ok") throw new Error(`${state} ${config}: no answer from ${url}: ${r.stderr}`);
  }
}

function target(config: string): { addr: string; ports: Ports } {
  if (config === "direct" || config === "routed")
    return {
      addr: "10.8.0.2",
      ports: { conn: tgt(config, "conn"), http: T.snat.http, iperf: T.snat.iperf },
    };
  return { addr: LAB.hubPublic, ports: PUB[config] as Ports };
}

async function measure(
  w: World,
  config: string,
  src: string,
): Promise<Omit<Sample, "state" | "config" | "round">> {
  const { addr, ports } = target(config);
  const host: LabHost = config === "direct" ? "hub" : "client";
  const exec = (argv: string[]) => w.exec(host, argv, { timeoutMs: (duration + 60) * 1000 });
  if (host === "client") await clientSource(w, src);
  const rate = (h: LabHost, url: string) => connRate(w, h, url);
  // The direct tunnel right before, so the pair shares the machine's load of the moment.
  const direct = target("direct");
  const connDirect = await rate("hub", `http://${direct.addr}:${direct.ports.conn}/`);
  const p0 = await pawsCount(w);
  const conn = config === "direct" ? connDirect : await rate(host, `http://${addr}:${ports.conn}/`);
  const paws = (await pawsCount(w)) - p0;
  if (connOnly)
    return {
      conn,
      connDirect,
      paws,
      up: Number.NaN,
      down: Number.NaN,
      p50: Number.NaN,
      p99: Number.NaN,
      dl: Number.NaN,
    };
  const lat = (
    await exec(["wrk", "-t1", "-c4", `-d${duration}s`, "--latency", `http://${addr}:${ports.http}/`])
  ).stdout;
  const iperf = async (reverse: boolean) => {
    const out = (
      await exec([
        "iperf3",
        "-J",
        "-c",
        addr,
        "-p",
        String(ports.iperf),
        "-t",
        String(duration),
        ...(reverse ? ["-R"] : []),
      ])
    ).stdout;
    return Number(JSON.parse(out).end?.sum_received?.bits_per_second ?? Number.NaN);
  };
  const up = await iperf(false);
  const down = await iperf(true);
  const dl = Number(
    (
      await exec([
        "curl",
        "-sS",
        "-m",
        "60",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total}",
        `http://${addr}:${ports.http}/50m`,
      ])
    ).stdout,
  );
  return {
    conn,
    connDirect,
    paws,
    up,
    down,
    p50: latencyMs(lat, "50%"),
    p99: latencyMs(lat, "99%"),
    dl,
  };
}

/** The client's packets (to the hub and, routed, to the peer) leave from SRC, one of CLIENTS. */
async function clientSource(w: World, src: string): Promise<void> {
  await w.exec("client", ["ip", "route", "replace", `${LAB.hubPublic}/32`, "dev", "to-hub", "src", src]);
  await w.exec("client", ["ip", "route", "replace", "10.8.0.2/32", "via", LAB.hubPublic, "src", src]);
}

/** New connections/s from host H to URL: wrk -t2 -c32 `Connection: close` for DURATION s. */
async function connRate(w: World, h: LabHost, url: string): Promise<number> {
  const argv = ["wrk", "-t2", "-c32", `-d${duration}s`, "-H", "Connection: close", url];
  const out = (await w.exec(h, argv, { timeoutMs: (duration + 60) * 1000 })).stdout;
  return Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
}

/** One configuration's connection rate in lab W, with the PAWS refusals at its peer during it. */
async function connRun(w: World, config: string, src: string): Promise<{ rate: number; paws: number }> {
  const { addr, ports } = target(config);
  const host: LabHost = config === "direct" ? "hub" : "client";
  if (host === "client") await clientSource(w, src);
  const p0 = await pawsCount(w);
  const rate = await connRate(w, host, `http://${addr}:${ports.conn}/`);
  return { rate, paws: (await pawsCount(w)) - p0 };
}

/**
 * --paired: two labs loaded at the same time, porthole snat in one and another configuration in the
 * other (which lab has which swaps every round), so both runs of a pair meet the same background load:
 * under a fair scheduler the configuration that costs less per connection gets more of the CPUs.
 * Prints each configuration's rate / porthole snat's in the same pair (median, middle half, min–max).
 */
async function pairedRun(): Promise<void> {
  const names = [benchLabName("rla"), benchLabName("rlb")];
  // porthole snat itself is paired too (A/A): its ratios' spread is what the noise alone does.
  // Only configurations with porthole snat's shape (a client on the internet through the hub's kernel
  // NAT): a scheduler shares CPUs fairly between like loads only. Paired with porthole snat, the direct
  // tunnel and plain routing read ~2 × (their loads wait more, so they are served first), not their cost.
  const others: [State, string][] = STATES.flatMap((st) =>
    CONFIGS[st]
      .filter((c) => !["direct", "routed", "haproxy", "socat"].includes(c))
      .map((c): [State, string] => [st, c]),
  );
  if (!others.length) {
    console.error(
      "--paired: --states gives nothing to pair with porthole snat (give e.g. porthole,seed,nftmap)",
    );
    process.exit(2);
  }
  const ratiosOf = new Map<string, number[]>(others.map(([st, c]) => [`${st} ${c}`, []]));
  const rates = { ref: [] as number[] };
  let paws = 0;
  await withLabs(names, async () => {
    const beds = [await bed(names[0] as string), await bed(names[1] as string)];
    const turn = { n: 0 };
    const src = () => CLIENTS[turn.n++ % CLIENTS.length] as string;
    for (const b of beds) {
      await install(b.w, "porthole", b.specs);
      await connRun(b.w, "snat", src()); // warm-up, not counted
    }
    for (let r = 0; r < rounds; r++) {
      for (const [k, [st, c]] of others.entries()) {
        const [a, b] = (r % 2 ? [beds[1], beds[0]] : beds) as [(typeof beds)[0], (typeof beds)[0]];
        // Which of the two starts first alternates too (ruleset-parts' A/A read ~1.2 without it).
        const refFirst = (Math.floor(r / 2) + k) % 2 === 0;
        const ref = () => connRun(a.w, "snat", src());
        const other = () => connRun(b.w, c, src());
        await Promise.all([install(a.w, "porthole", a.specs), install(b.w, st, b.specs)]);
        type Run = Awaited<ReturnType<typeof ref>>;
        const [x, y] = (
          refFirst ? await Promise.all([ref(), other()]) : (await Promise.all([other(), ref()])).reverse()
        ) as [Run, Run];
        paws += x.paws + y.paws;
        rates.ref.push(x.rate);
        if (Number.isFinite(y.rate / x.rate)) ratiosOf.get(`${st} ${c}`)?.push(y.rate / x.rate);
        console.error(
          `round ${r} porthole snat ${Math.round(x.rate)} conn/s | ${st} ${c} ${Math.round(y.rate)} conn/s: ${(y.rate / x.rate).toFixed(2)}`,
        );
      }
    }
  });
  const f2 = (x: number) => x.toFixed(2);
  const spread = (xs: number[]) =>
    `${f2(median(xs))} (${f2(quantile(xs, 0.25))}–${f2(quantile(xs, 0.75))}; ${f2(Math.min(...xs))}–${f2(Math.max(...xs))})`;
  const label = (st: State, c: string) => COLUMNS.find(([a, b]) => a === st && b === c)?.[2] ?? c;
  console.log(`
### New connections, paired: porthole snat against each configuration under the same load

\`${command}\`

${rounds} rounds; two labs loaded at the same time, porthole snat (one forward, hub.snatPool as \`hub init\`
writes it) in one and the other configuration in the other, which lab has which swapping every round;
wrk -t2 -c32 \`Connection: close\` (fast-http.c) for ${duration} s in both. Cell: that configuration's rate /
porthole snat's in the same pair (> 1: faster than porthole). ${await machineNote()}

porthole snat: ${Math.round(median(rates.ref))} connections/s (median of its runs, sharing the CPUs with the other lab).

${markdownTable(
  ["configuration", "rate / porthole snat: median (middle half; min–max)", "pairs"],
  others.map(([st, c]) => {
    const xs = ratiosOf.get(`${st} ${c}`) ?? [];
    const name = st === "porthole" && c === "snat" ? "porthole snat again (A/A: the noise)" : label(st, c);
    return [name, xs.length ? spread(xs) : "–", String(xs.length)];
  }),
)}

PAWS-refused SYNs at the peers: ${paws}.
`);
}

/** A percentile line of wrk --latency ("50%  312.00us"), in ms. */
function latencyMs(out: string, pct: string): number {
  const m = new RegExp(`${pct.replace("%", "\\%")}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}
