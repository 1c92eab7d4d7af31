// Benchmark: the hub daemon's CPU when nothing happens. One lab (`porthole lab up`'s: hub daemon, a
// joined peer, one forward); the peer's agent is stopped, so nothing asks the hub anything, and no
// traffic flows but WireGuard's keepalives. Per round, in alternating order (ABBA), each variant's hub
// daemon is started (the previous one stopped), left to settle, then its CPU time (user + system, with
// its reaped children: /proc/PID/stat fields 14-17) is read over the window; then, outside the window
// (strace slows what it traces), the programs it starts are counted for --trace seconds.
//
//   node --import tsx bench/daemon-idle.bench.ts [--before /other/checkout] [--rounds 3] [--window 36]
//     [--trace 12] [--agent]
//
// --before: another built checkout (e.g. `git worktree add --detach DIR main`, npm ci, npm run build)
// whose daemon runs as the baseline. --agent: leave the peer's agent running (its requests every 2 s).
// Needs root and the lab's tools (strace for the program counts). Builds its own lab, removes it at the end.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { labUpJoined } from "../src/lab/lab.ts";
import type { World } from "../src/lab/world.ts";
import { DAEMON_ENV } from "../src/plan/daemon-env.ts";
import {
  benchLabName,
  cliArgs,
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

const args = cliArgs();
const rounds = args.number("--rounds", 3);
const windowS = args.number("--window", 36);
const traceS = args.number("--trace", 12, 0);
const before = args.value("--before");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Variant {
  label: string;
  bin: string;
}
const variants: Variant[] = [
  { label: "this build", bin: join(REPO, "bin/porthole.js") },
  ...(before ? [{ label: `before (${before})`, bin: join(resolve(before), "bin/porthole.js") }] : []),
];

/** CPU clock ticks of a process: its own (user + system) and its reaped children's. */
function ticks(pid: number): { self: number; children: number } {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const n = (i: number) => Number(f[i - 3]); // fields are numbered from 1; "pid (comm)" took two
  return { self: n(14) + n(15), children: n(16) + n(17) };
}

/** The programs a process and its children start (successful execve) within `s` seconds, by name. */
async function programs(pid: number, s: number): Promise<Map<string, number>> {
  const out: string[] = [];
  const tracer = spawn(
    "strace",
    ["-f", "-qq", "-e", "trace=execve", "-e", "status=successful", "-p", String(pid)],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  tracer.stderr.setEncoding("utf8").on("data", (d: string) => out.push(d));
  await sleep(s * 1000);
  tracer.kill("SIGINT");
  await new Promise((r) => tracer.once("close", r));
  const counts = new Map<string, number>();
  for (const m of out.join("").matchAll(/execve\("[^"]*", \["([^"]*)"(?:, "([^"]*)")?/g)) {
    const name = [m[1], m[2]].filter(Boolean).join(" ");
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

async function startDaemon(world: World, v: Variant): Promise<number> {
  const old = world
    .running()
    .find((p) => p.host === "hub" && p.argv.includes("run") && p.argv.includes("hub"));
  if (old) await world.stop(old.pid);
  const d = await world.spawn("hub", [process.execPath, v.bin, "hub", "run"], {
    label: "hub-daemon",
    env: DAEMON_ENV,
  });
  await waitForLog(world, d.log, "API on");
  return d.pid;
}

requireLabMachine(["strace"]);
requireBuiltCli();
const name = benchLabName("idle");
await withLabs([name], async () => {
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  if (!args.flag("--agent")) {
    const agent = world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
    if (agent) await world.stop(agent.pid);
  }
  const per12 = new Map<string, { self: number[]; children: number[]; programs: number[] }>();
  const lastPrograms = new Map<string, Map<string, number>>();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const pid = await startDaemon(world, v);
      await sleep(6000); // the start-up apply, the peer's handshake, the first rounds
      const t0 = ticks(pid);
      await sleep(windowS * 1000);
      const t1 = ticks(pid);
      const scale = 12 / windowS;
      const got = per12.get(v.label) ?? { self: [], children: [], programs: [] };
      got.self.push((t1.self - t0.self) * scale);
      got.children.push((t1.children - t0.children) * scale);
      if (traceS > 0) {
        const p = await programs(pid, traceS);
        lastPrograms.set(v.label, p);
        got.programs.push(([...p.values()].reduce((a, b) => a + b, 0) * 12) / traceS);
      }
      per12.set(v.label, got);
      console.error(
        `round ${r + 1}, ${v.label}: ${(got.self.at(-1) ?? 0).toFixed(1)} + ${(got.children.at(-1) ?? 0).toFixed(1)} ticks per 12 s` +
          (traceS > 0 ? `, ${got.programs.at(-1)?.toFixed(0)} programs per 12 s` : ""),
      );
    }
  }
  console.log(`\n${await machineNote()}; ${rounds} rounds of ${windowS} s per variant (ABBA)\n`);
  const rows = [...per12].map(([label, g]) => {
    const total = g.self.map((s, i) => s + (g.children[i] ?? 0));
    return [
      label,
      median(g.self).toFixed(1),
      median(g.children).toFixed(1),
      `${median(total).toFixed(1)} (${Math.min(...total).toFixed(1)}–${Math.max(...total).toFixed(1)})`,
      `${(median(total) / 12).toFixed(2)} %`,
      g.programs.length ? median(g.programs).toFixed(0) : "–",
    ];
  });
  console.log(
    markdownTable(
      [
        "hub daemon",
        "own ticks / 12 s",
        "children's ticks / 12 s",
        "total / 12 s: median (min–max)",
        "of a core",
        "programs / 12 s",
      ],
      rows,
    ),
  );
  for (const [label, p] of lastPrograms)
    console.log(
      `\n${label}, programs in the last ${traceS} s traced: ${[...p]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n} × ${k}`)
        .join(", ")}`,
    );
});
