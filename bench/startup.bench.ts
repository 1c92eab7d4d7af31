// CLI start-up, side by side: `node -e 0`, then `porthole --version`, `status --help`, `expose --help`
// and `validate --spec examples/seed.yaml` of this checkout (and of another one with --before DIR), run
// in interleaved rounds so the shared machine's load falls on every command alike. Prints the median
// wall time and the mean CPU time (user + system, from this process's cutime/cstime in /proc/self/stat:
// less noisy than wall time on a loaded machine), each with its ratio to `node -e 0`.
// With --lab NAME (a lab that is up: `porthole lab up --name NAME`), whole commands that ask a hub run
// too, inside the lab's hosts: `status` on the hub (through its daemon's socket), `status` and `exposed`
// on the peer (through the tunnel), each beside a `node -e 0` entering the same host the same way. Their
// wall time includes the hub daemon's answer; their CPU time is the CLI's alone.
//   node --import tsx bench/startup.bench.ts [--rounds 20] [--before /path/to/other/checkout] [--lab NAME]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { LabHost } from "../src/lab/state.ts";
import { openWorld } from "../src/lab/world.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string" }, before: { type: "string" }, lab: { type: "string" } },
});
const rounds = Number(values.rounds ?? 20);
const here = resolve(import.meta.dirname, "..");
const checkouts = values.before
  ? [
      ["before", resolve(values.before)],
      ["after", here],
    ]
  : [["", here]];
/** `argv` is node's (process.execPath is prepended), or a whole command line with `exec`. */
const runs: { label: string; argv: string[]; exec?: boolean }[] = [{ label: "node -e 0", argv: ["-e", "0"] }];
// `validate` is a command that does work: reading and checking a spec, as apply, render and a hub's
// status do (yaml, zod and the spec's code on top of commander).
const seed = resolve(here, "examples/seed.yaml");
for (const args of [["--version"], ["status", "--help"], ["expose", "--help"], ["validate", "--spec", seed]])
  for (const [tag, dir] of checkouts)
    runs.push({
      label: `porthole ${args.join(" ").replace(`${here}/`, "")}${tag ? ` (${tag})` : ""}`,
      argv: [resolve(dir as string, "bin/porthole.js"), ...args],
    });

if (values.lab) {
  const world = openWorld(values.lab);
  if (!world) throw new Error(`no lab named ${values.lab}: \`porthole lab up --name ${values.lab}\` first`);
  // `env` sets the host's porthole paths (PORTHOLE_STATE_DIR...), as `lab exec` does.
  const inside = (host: LabHost, argv: string[]) => [
    ...world.enterArgv(host, [
      "env",
      ...Object.entries(world.env(host)).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      ...argv,
    ]),
  ];
  for (const host of ["hub", "peer"] as const) {
    runs.push({ label: `${host}: node -e 0`, argv: inside(host, ["-e", "0"]), exec: true });
    const words = host === "hub" ? [["status"]] : [["status"], ["exposed"]];
    for (const args of words)
      for (const [tag, dir] of checkouts)
        runs.push({
          label: `${host}: porthole ${args.join(" ")}${tag ? ` (${tag})` : ""}`,
          argv: inside(host, [resolve(dir as string, "bin/porthole.js"), ...args]),
          exec: true,
        });
  }
}

/** CPU time (user + system) of the children waited for so far, in clock ticks (USER_HZ, 100/s). */
function childTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[13]) + Number(f[14]); // fields 16 and 17: cutime, cstime
}

const times = new Map(runs.map((r) => [r.label, [] as number[]]));
const cpu = new Map(runs.map((r) => [r.label, 0]));
for (let i = 0; i < rounds + 2; i++) {
  // Two warm-up rounds; each round in a fresh random order.
  const order = [...runs].sort(() => Math.random() - 0.5);
  for (const r of order) {
    const c0 = childTicks();
    const t0 = process.hrtime.bigint();
    const [cmd, ...args] = r.exec ? (r.argv as [string, ...string[]]) : [process.execPath, ...r.argv];
    const p = spawnSync(cmd, args, { stdio: "ignore" });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (p.status !== 0) throw new Error(`${r.label}: exit ${p.status}`);
    if (i >= 2) {
      times.get(r.label)?.push(ms);
      cpu.set(r.label, (cpu.get(r.label) as number) + childTicks() - c0);
    }
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const cpuMs = (label: string) => ((cpu.get(label) as number) * 10) / rounds;
// Each against the `node -e 0` started the same way: outside, or entering the same lab host.
const baseOf = (label: string) => `${/^(hub|peer): /.exec(label)?.[0] ?? ""}node -e 0`;
console.log(
  `| command (${rounds} interleaved rounds) | median wall | × node -e 0 | mean CPU | × node -e 0 |`,
);
console.log("|---|---|---|---|---|");
for (const r of runs) {
  const m = median(times.get(r.label) as number[]);
  const c = cpuMs(r.label);
  const base = median(times.get(baseOf(r.label)) as number[]);
  const baseCpu = cpuMs(baseOf(r.label));
  console.log(
    `| \`${r.label}\` | ${m.toFixed(0)} ms | ${(m / base).toFixed(2)} | ${c.toFixed(0)} ms | ${(c / baseCpu).toFixed(2)} |`,
  );
}
