// Benchmark: the hub daemon's memory (RSS) at 10,000 forwards (issue 13 §3), one lab, daemon variants
// side by side. A variant is a porthole checkout (this one, or --before DIR) and the NODE_OPTIONS the
// daemon runs with (what the systemd unit sets, or --flags). Per round, in alternating order, each
// variant's daemon is started on the lab's 1-forward spec, then given 10,000 forwards (the spec file
// rewritten, as a person would), asked `porthole status --json` three times, and left alone 60 s; its
// RSS (/proc) and V8's heap (a SIGUSR2 probe preloaded with --import) are read after each step, and its
// CPU time per step (apply, status, idle reconcile rounds).
//
//   node --import tsx bench/daemon-memory.bench.ts [--rounds 2] [--forwards 10000] [--idle 60]
//     [--flags "none|--max-semi-space-size=1|..."] [--before /other/checkout [--before-flags "none|..."]]
//
// --flags: the variants of this checkout (default: the unit's DAEMON_NODE_OPTIONS); "none": no flags.
//
// Needs root and the lab's tools. Builds its own lab (unique name), removes it at the end, also on failure.
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DAEMON_NODE_OPTIONS } from "../src/compile/systemd.ts";
import { labUpJoined } from "../src/lab/lab.ts";
import type { World } from "../src/lab/world.ts";
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
const before = opt("--before");
const flagList = (v: string) => v.split("|").map((f) => (f.trim() === "none" ? "" : f.trim()));
const flagSets = flagList(opt("--flags") ?? (DAEMON_NODE_OPTIONS || "none"));
const beforeFlagSets = flagList(opt("--before-flags") ?? "none");
const command = ["node --import tsx bench/daemon-memory.bench.ts", ...process.argv.slice(2)].join(" ");

interface Variant {
  label: string;
  bin: string;
  nodeOptions: string;
}
const variants: Variant[] = [
  ...(before
    ? beforeFlagSets.map((f) => ({
        label: `before, ${f || "no flags"}`,
        bin: join(resolve(before), "bin/porthole.js"),
        nodeOptions: f,
      }))
    : []),
  ...flagSets.map((f) => ({
    label: `${before ? "after, " : ""}${f || "no flags"}`,
    bin: join(REPO, "bin/porthole.js"),
    nodeOptions: f,
  })),
];

const STEPS = [
  "start (1 forward)",
  `${N.toLocaleString("en-US")} forwards applied`,
  "after 3 status calls",
  `${idleS} s later`,
] as const;
interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  newSpace: number;
}
interface Run {
  samples: Sample[];
  hwm: number;
  applyCpu: number;
  statusCpu: number[];
  idleCpuPerS: number;
}
const runs = new Map<string, Run[]>(variants.map((v) => [v.label, []]));
const TICK_MS = 10;
const PROBE = `/tmp/porthole-memory-probe-${process.pid}`;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

requireLabMachine();
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
    [process.execPath, join(REPO, "bench/support/fast-http.mjs"), String(FIRST_PORT + N - 1)],
    { label: "fast-http" },
  );
  await waitForLog(world, server.log, "listening");
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      const r = await measure(world, v, specFile, small);
      runs.get(v.label)?.push(r);
      console.error(
        `round ${round + 1} ${v.label}: RSS ${r.samples.map((s) => s.rss.toFixed(0)).join(" / ")} MiB (peak ${r.hwm.toFixed(0)}), heap used/total ${r.samples.map((s) => `${s.heapUsed.toFixed(0)}/${s.heapTotal.toFixed(0)}`).join(" ")}, CPU apply ${r.applyCpu} ms, status ${r.statusCpu.join("/")} ms, idle ${r.idleCpuPerS.toFixed(0)} ms/s`,
      );
    }
  }
});

/** One variant's daemon from start on the small spec to idle at N forwards. */
async function measure(world: World, v: Variant, specFile: string, small: string): Promise<Run> {
  // Back to the small spec first, applied by the daemon running now: each variant starts on the same host.
  await writeFile(specFile, small);
  const applied = join(world.hostRecord("hub").stateDir, "applied.json");
  for (let i = 0; (await stat(applied)).size > 100_000; i++) {
    if (i > 600) throw new Error("the hub daemon did not apply the 1-forward spec within 60 s");
    await sleep(100);
  }
  const old = world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
  if (old) await world.stop(old.pid);
  const probe = join(REPO, "bench/support/memory-probe.mjs");
  const daemon = await world.spawn("hub", [process.execPath, v.bin, "hub", "run"], {
    label: "hub-daemon",
    env: {
      NODE_OPTIONS: [v.nodeOptions, `--import ${probe}`].filter(Boolean).join(" "),
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
  const statusCpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    c0 = await cpuMs(pid);
    await world.exec("hub", [...PORTHOLE, "status", "--json"], { cwd: REPO });
    statusCpu.push((await cpuMs(pid)) - c0);
  }
  samples.push(await sample(pid));
  c0 = await cpuMs(pid);
  await sleep(idleS * 1000);
  const idleCpuPerS = ((await cpuMs(pid)) - c0) / idleS;
  samples.push(await sample(pid));
  const hwm = await status(pid, "VmHWM");
  await rm(`${PROBE}-${pid}.json`, { force: true });
  return { samples, hwm, applyCpu, statusCpu, idleCpuPerS };
}

async function sample(pid: number): Promise<Sample> {
  const file = `${PROBE}-${pid}.json`;
  await rm(file, { force: true });
  process.kill(pid, "SIGUSR2");
  for (let i = 0; ; i++) {
    const text = await readFile(file, "utf8").catch(() => null);
    if (text) {
      const p = JSON.parse(text) as {
        mem: NodeJS.MemoryUsage;
        spaces: Record<string, { size: number }>;
      };
      return {
        rss: await status(pid, "VmRSS"),
        heapUsed: p.mem.heapUsed / MiB,
        heapTotal: p.mem.heapTotal / MiB,
        external: p.mem.external / MiB,
        newSpace: (p.spaces.new_space?.size ?? 0) / MiB,
      };
    }
    if (i > 100) throw new Error(`the daemon (pid ${pid}) wrote no memory probe to ${file}`);
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
console.log(`
### Hub daemon memory (${N.toLocaleString("en-US")} forwards, nftables)

\`${command}\` — ${rounds} rounds, variants alternating; median over rounds. ${await machineNote()}

RSS in MiB at each step (V8 heap used / total in parentheses):

${markdownTable(
  ["daemon", ...STEPS, "peak (VmHWM)"],
  variants.map((v) => {
    const rs = runs.get(v.label) ?? [];
    return [
      v.label,
      ...STEPS.map(
        (_, i) =>
          `${mib(rs.map((r) => r.samples[i]?.rss ?? Number.NaN))} (${mib(rs.map((r) => r.samples[i]?.heapUsed ?? Number.NaN))} / ${mib(rs.map((r) => r.samples[i]?.heapTotal ?? Number.NaN))})`,
      ),
      mib(rs.map((r) => r.hwm)),
    ];
  }),
)}

Daemon CPU time (user + system, with its children: nft, wg, conntrack …):

${markdownTable(
  [
    "daemon",
    `apply 1 → ${N.toLocaleString("en-US")} forwards`,
    "one `status --json` (median of 3 per round)",
    `idle (2 s reconcile rounds)`,
  ],
  variants.map((v) => {
    const rs = runs.get(v.label) ?? [];
    return [
      v.label,
      `${med(rs.map((r) => r.applyCpu)).toFixed(0)} ms`,
      `${med(rs.flatMap((r) => r.statusCpu)).toFixed(0)} ms`,
      `${med(rs.map((r) => r.idleCpuPerS)).toFixed(0)} ms/s`,
    ];
  }),
)}
`);
