// Benchmark: the hub daemon's memory (RSS) at 10,000 forwards and a conntrack table of a given size
// (issue 13 §3), one lab, daemon variants side by side. A variant is a porthole checkout (this one, or
// --before DIR) and the environment its daemon runs with (the unit's, plan/daemon-env.ts, or --env).
// Per table size and round, in alternating order, each variant's daemon is started on the lab's
// 1-forward spec (the table empty), given 10,000 forwards (the spec file rewritten, as a person would),
// the table is loaded with that many DNAT'd connections to the forwards (one in four open: see
// conntrackLoad), the daemon is given one forward more (an apply reads the whole table to forget the new
// port's flows), asked `porthole status --json` three times (each counts the open connections), and
// left alone 60 s. After each step it reads the daemon's RSS (/proc: all, and the part that is not
// file-backed, i.e. not node's binary), V8's heap and node's external memory (a SIGUSR2 probe preloaded
// with --import), and its CPU time per step.
//
//   node --import tsx bench/daemon-memory.bench.ts [--entries 1000,10000,100000] [--rounds 2]
//     [--forwards 10000] [--idle 60] [--env "unit|none|MALLOC_ARENA_MAX=2 --max-semi-space-size=1|..."]
//     [--before /other/checkout [--before-env "none|unit|..."]] [--snapshots DIR]
//
// --env: the variants of this checkout, "|"-separated, each node flags (its NODE_OPTIONS), NAME=value
// words (environment variables) and node:--flag words (on node's command line: V8 flags that
// NODE_OPTIONS refuses, e.g. node:--optimize-for-size); "unit": the unit's environment (DAEMON_ENV; the
// default), which the other words add to ("unit MALLOC_ARENA_MAX=2"); "none": nothing.
//
// Needs root and the lab's tools. Builds its own lab (unique name), removes it at the end, also on failure.
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { labUpJoined, WEBDAV } from "../src/lab/lab.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import { DAEMON_ENV } from "../src/plan/daemon-env.ts";
import { OPEN_MARK } from "../src/plan/plan.ts";
import {
  benchLabName,
  cliArgs,
  fillHubForwards,
  machineNote,
  markdownTable,
  median,
  PORTHOLE,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const FIRST_PORT = 10_000;
const args = cliArgs();
const N = args.number("--forwards", 10_000, 1, 40_000);
const rounds = args.number("--rounds", 2, 1, 10);
const idleS = args.number("--idle", 60, 1, 600);
const opt = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const sizesArg = opt("--entries") ?? "1000,10000,100000";
const sizes = sizesArg.split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 200_000)) {
  console.error(
    `--entries: ${JSON.stringify(sizesArg)} is not accepted; give whole numbers 0-200000, comma-separated`,
  );
  process.exit(2);
}
const before = opt("--before");
/** --snapshots DIR: a heap snapshot of each daemon at its last step, for a closer look. */
const snapshots = opt("--snapshots");
const command = ["node --import tsx bench/daemon-memory.bench.ts", ...process.argv.slice(2)].join(" ");

interface Variant {
  label: string;
  bin: string;
  env: Record<string, string>;
  /** Flags on node's command line. */
  nodeArgs: string[];
}
/**
 * A variant of checkout `bin` from words: node flags, NAME=value and node:--flag words; "unit": the
 * unit's environment, to which the other words add; "none": nothing.
 */
function variant(text: string, bin: string, labelPrefix: string): Variant {
  const t = text.trim();
  const label = labelPrefix + (t === "unit" ? "the unit's" : t === "none" ? "nothing" : `\`${t}\``);
  const words = t.split(/\s+/).filter((w) => w !== "none");
  const base: Record<string, string> = words.includes("unit") ? { ...DAEMON_ENV } : {};
  const vars = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
  const nodeArgs = words.filter((w) => w.startsWith("node:")).map((w) => w.slice("node:".length));
  const flags = words.filter((w) => w !== "unit" && !vars.includes(w) && !w.startsWith("node:"));
  const nodeOptions = [base.NODE_OPTIONS, ...flags].filter(Boolean).join(" ");
  return {
    label,
    bin,
    env: {
      ...base,
      ...Object.fromEntries(vars.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)])),
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
    nodeArgs,
  };
}
const variants: Variant[] = [
  ...(before
    ? (opt("--before-env") ?? "unit")
        .split("|")
        .map((t) => variant(t, join(resolve(before), "bin/porthole.js"), "before, "))
    : []),
  ...(opt("--env") ?? "unit")
    .split("|")
    .map((t) => variant(t, join(REPO, "bin/porthole.js"), before ? "after, " : "")),
];

const STEPS = [
  "start (1 forward)",
  `${N.toLocaleString("en-US")} forwards applied`,
  "one forward more (table read)",
  "after 3 status calls",
  `${idleS} s later`,
] as const;
interface Sample {
  rss: number;
  /** RSS that is not file-backed (node's binary and libraries are). */
  anon: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}
interface Run {
  samples: Sample[];
  hwm: number;
  applyCpu: number;
  addCpu: number;
  statusCpu: number[];
  idleCpuPerS: number;
  counted: number;
}
const runs = new Map<string, Run[]>();
const key = (size: number, v: Variant) => `${size} ${v.label}`;
const TICK_MS = 10;
const PROBE = `/tmp/porthole-memory-probe-${process.pid}`;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { established, closed } = OPEN_MARK;
const hex = (n: number) => `0x${n.toString(16)}`;

requireLabMachine(["conntrack"]);
requireBuiltCli();
const name = benchLabName("dm");
await withLabs([name], async () => {
  console.error(`building lab ${name} (hub daemon, joined peer)...`);
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const hub = world.hostRecord("hub");
  const specFile = join(hub.configDir, "porthole.yaml");
  const small = await readFile(specFile, "utf8");
  const server = await world.spawn(
    "peer",
    [
      process.execPath,
      join(REPO, "bench/support/fast-http.mjs"),
      String(FIRST_PORT + N - 1),
      String(FIRST_PORT + N),
    ],
    { label: "fast-http" },
  );
  await waitForLog(world, server.log, "listening");
  for (const size of sizes)
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...variants].reverse() : variants;
      for (const v of order) {
        const r = await measure(world, v, specFile, small, size);
        runs.set(key(size, v), [...(runs.get(key(size, v)) ?? []), r]);
        console.error(
          `${size} entries, round ${round + 1}, ${v.label}: RSS ${r.samples.map((s) => s.rss.toFixed(0)).join(" / ")} MiB (peak ${r.hwm.toFixed(0)}), not file-backed ${r.samples.map((s) => s.anon.toFixed(0)).join(" / ")}, heap used/total ${r.samples.map((s) => `${s.heapUsed.toFixed(0)}/${s.heapTotal.toFixed(0)}`).join(" ")}, external ${r.samples.map((s) => s.external.toFixed(0)).join(" ")}, CPU apply ${r.applyCpu} ms, one more ${r.addCpu} ms, status ${r.statusCpu.join("/")} ms, idle ${r.idleCpuPerS.toFixed(0)} ms/s, counted ${r.counted}`,
        );
      }
    }
  await world.exec("hub", ["conntrack", "-F"], { allowFail: true });
});

/** One variant's daemon from start on the small spec to idle at N + 1 forwards and `size` entries. */
async function measure(
  world: World,
  v: Variant,
  specFile: string,
  small: string,
  size: number,
): Promise<Run> {
  // Back to the small spec first, applied by the daemon running now: each variant starts on the same
  // host, and on an empty table (the apply to N forwards would read and forget the last run's flows).
  await world.exec("hub", ["conntrack", "-F"], { allowFail: true });
  await writeFile(specFile, small);
  const applied = join(world.hostRecord("hub").stateDir, "applied.json");
  for (let i = 0; (await stat(applied)).size > 100_000; i++) {
    if (i > 600) throw new Error("the hub daemon did not apply the 1-forward spec within 60 s");
    await sleep(100);
  }
  const old = world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
  if (old) await world.stop(old.pid);
  await world.exec("hub", ["conntrack", "-F"], { allowFail: true });
  const probe = join(REPO, "bench/support/memory-probe.mjs");
  const daemon = await world.spawn("hub", [process.execPath, ...v.nodeArgs, v.bin, "hub", "run"], {
    label: "hub-daemon",
    env: {
      ...v.env,
      NODE_OPTIONS: [v.env.NODE_OPTIONS, `--import ${probe}`].filter(Boolean).join(" "),
      PORTHOLE_MEMORY_PROBE: PROBE,
    },
  });
  for (let i = 0; !world.logTail(daemon.log).includes("API on"); i++) {
    if (i > 600) throw new Error(`the daemon did not start within 60 s:\n${world.logTail(daemon.log)}`);
    await sleep(100);
  }
  await sleep(3000);
  const pid = daemon.pid;
  const samples: Sample[] = [await sample(pid)];
  let c0 = await cpuMs(pid);
  await fillHubForwards(world, specFile, FIRST_PORT, N);
  const applyCpu = (await cpuMs(pid)) - c0;
  samples.push(await sample(pid));
  if (size > 0) await loadTable(world, size);
  c0 = await cpuMs(pid);
  await fillHubForwards(world, specFile, FIRST_PORT + N, 1);
  const addCpu = (await cpuMs(pid)) - c0;
  samples.push(await sample(pid));
  const statusCpu: number[] = [];
  let counted = 0;
  for (let i = 0; i < 3; i++) {
    c0 = await cpuMs(pid);
    const r = await world.exec("hub", [...PORTHOLE, "status", "--json"], { cwd: REPO });
    statusCpu.push((await cpuMs(pid)) - c0);
    const s = JSON.parse(r.stdout) as { forwards: { establishedConnections: number | null }[] };
    counted = s.forwards.reduce((a, f) => a + (f.establishedConnections ?? 0), 0);
  }
  if (counted !== Math.ceil(size / 4))
    throw new Error(`status counted ${counted} open connections, expected ${Math.ceil(size / 4)}`);
  samples.push(await sample(pid));
  c0 = await cpuMs(pid);
  await sleep(idleS * 1000);
  const idleCpuPerS = ((await cpuMs(pid)) - c0) / idleS;
  samples.push(await sample(pid));
  const hwm = await status(pid, "VmHWM");
  if (snapshots) {
    // After the last sample: a snapshot collects garbage first.
    await writeFile(`${PROBE}-${pid}.want-snapshot`, "");
    await sample(pid);
    const file = `${size}-${v.label.replace(/\W+/g, "_")}-${pid}.heapsnapshot`;
    await rename(`${PROBE}-${pid}.heapsnapshot`, join(snapshots, file));
  }
  await rm(`${PROBE}-${pid}.json`, { force: true });
  return { samples, hwm, applyCpu, addCpu, statusCpu, idleCpuPerS, counted };
}

/**
 * Loads the hub's conntrack table with n DNAT'd connections from many client addresses to the forwards'
 * public ports (spread over all of them), one in four ESTABLISHED and carrying the mark the hub's forward
 * chain sets on an open connection (OPEN_MARK.established), the rest TIME_WAIT with the mark a closed
 * one carries (established | closed): `conntrack -I` does not pass the ruleset, so the bench writes the
 * marks it would have set (test/e2e/counters.test.ts checks that the ruleset sets them).
 */
async function loadTable(world: World, n: number): Promise<void> {
  const status = JSON.parse((await world.exec("hub", [...PORTHOLE, "status", "--json"])).stdout) as {
    peers: { name: string; address: string }[];
  };
  const peer = status.peers.find((p) => p.name === WEBDAV.peer)?.address;
  if (!peer) throw new Error(`no peer ${WEBDAV.peer} in the hub's status`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const client = `198.18.${(i >> 8) & 255}.${i & 255}`;
    // (port, sport) unique per entry: the reply tuple (peer:port -> 10.8.0.1:sport) must be unique too.
    const port = FIRST_PORT + (i % N);
    const sport = 1024 + (Math.floor(i / N) % 60_000);
    const open = i % 4 === 0;
    out.push(
      `-I -t 3000 -u SEEN_REPLY,ASSURED -s ${client} -d ${LAB.hubPublic} -r ${peer} -q 10.8.0.1 -p tcp --sport ${sport} --dport ${port} --reply-port-src ${port} --reply-port-dst ${sport} --state ${open ? "ESTABLISHED" : "TIME_WAIT"} --mark ${hex(open ? established : established | closed)}`,
    );
  }
  const file = join(world.hostRecord("hub").stateDir, "bench.conntrack");
  await writeFile(file, `${out.join("\n")}\n`);
  await world.exec("hub", ["conntrack", "-R", file], { allowFail: true, timeoutMs: 900_000 });
  await rm(file, { force: true });
  const loaded = Number((await world.exec("hub", ["conntrack", "-C"])).stdout.trim());
  if (loaded < n) throw new Error(`conntrack holds ${loaded} entries after loading ${n}`);
}

async function sample(pid: number): Promise<Sample> {
  const file = `${PROBE}-${pid}.json`;
  await rm(file, { force: true });
  process.kill(pid, "SIGUSR2");
  for (let i = 0; ; i++) {
    const text = await readFile(file, "utf8").catch(() => null);
    if (text) {
      const p = JSON.parse(text) as { mem: NodeJS.MemoryUsage };
      const kb = (field: string, text: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]) / 1024;
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
      return {
        rss: await status(pid, "VmRSS"),
        anon: kb("Anonymous", rollup),
        heapUsed: p.mem.heapUsed / MiB,
        heapTotal: p.mem.heapTotal / MiB,
        external: p.mem.external / MiB,
      };
    }
    if (i > 600) throw new Error(`the daemon (pid ${pid}) wrote no memory probe to ${file}`);
    await sleep(100);
  }
}

/** A /proc/PID/status field in MiB (VmRSS, VmHWM). */
async function status(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]) / 1024;
}

/** A process's CPU time with its reaped children's, in ms (/proc/PID/stat utime stime cutime cstime). */
async function cpuMs(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) * TICK_MS;
}

const med = (xs: number[]) => median(xs);
const mib = (xs: number[]) => `${med(xs).toFixed(0)}`;
const rows = sizes.flatMap((size) => variants.map((v) => ({ size, v, rs: runs.get(key(size, v)) ?? [] })));
const entriesCell = (size: number) =>
  `${size.toLocaleString("en-US")} (${Math.ceil(size / 4).toLocaleString("en-US")})`;
console.log(`
### Hub daemon memory (${N.toLocaleString("en-US")} forwards, nftables) as conntrack grows

\`${command}\` — ${rounds} rounds per table size, variants alternating; median over rounds. ${await machineNote()}

RSS in MiB at each step (V8 heap used / total in parentheses); the daemon's environment beside:

${markdownTable(
  ["conntrack entries (open)", "daemon env", ...STEPS, "peak (VmHWM)"],
  rows.map(({ size, v, rs }) => [
    entriesCell(size),
    v.label,
    ...STEPS.map(
      (_, i) =>
        `${mib(rs.map((r) => r.samples[i]?.rss ?? Number.NaN))} (${mib(rs.map((r) => r.samples[i]?.heapUsed ?? Number.NaN))} / ${mib(rs.map((r) => r.samples[i]?.heapTotal ?? Number.NaN))})`,
    ),
    mib(rs.map((r) => r.hwm)),
  ]),
)}

${idleS} s after the status calls, where the RSS is: file-backed (node's binary), and the rest — V8's
heap (total), node's external memory (buffers), and what neither accounts for (malloc's free memory,
thread stacks, code):

${markdownTable(
  ["conntrack entries", "daemon env", "RSS", "file-backed", "V8 heap", "external", "other"],
  rows.map(({ size, v, rs }) => {
    const last = (f: (s: Sample) => number) => med(rs.map((r) => f(r.samples[STEPS.length - 1] as Sample)));
    return [
      entriesCell(size),
      v.label,
      ...[
        last((s) => s.rss),
        last((s) => s.rss - s.anon),
        last((s) => s.heapTotal),
        last((s) => s.external),
        last((s) => s.anon - s.heapTotal - s.external),
      ].map((x) => x.toFixed(0)),
    ];
  }),
)}

Daemon CPU time (user + system, with its children: nft, wg, conntrack …):

${markdownTable(
  [
    "conntrack entries",
    "daemon env",
    `apply 1 → ${N.toLocaleString("en-US")} forwards`,
    "one forward more",
    "one `status --json` (median of 3 per round)",
    "idle (2 s reconcile rounds)",
  ],
  rows.map(({ size, v, rs }) => [
    entriesCell(size),
    v.label,
    `${med(rs.map((r) => r.applyCpu)).toFixed(0)} ms`,
    `${med(rs.map((r) => r.addCpu)).toFixed(0)} ms`,
    `${med(rs.flatMap((r) => r.statusCpu)).toFixed(0)} ms`,
    `${med(rs.map((r) => r.idleCpuPerS)).toFixed(0)} ms/s`,
  ]),
)}
`);
