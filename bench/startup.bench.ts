// CLI start-up, side by side: `node -e 0`, then `porthole --version`, `status --help`, `expose --help`
// and `validate --spec examples/seed.yaml` of this checkout (and of another one with --before DIR), run
// in interleaved rounds so the shared machine's load falls on every command alike. Prints the median
// wall time and the mean CPU time (user + system, from this process's cutime/cstime in /proc/self/stat:
// less noisy than wall time on a loaded machine), each with its ratio to `node -e 0`.
//   node --import tsx bench/startup.bench.ts [--rounds 20] [--before /path/to/other/checkout]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { rounds: { type: "string" }, before: { type: "string" } } });
const rounds = Number(values.rounds ?? 20);
const here = resolve(import.meta.dirname, "..");
const checkouts = values.before
  ? [
      ["before", resolve(values.before)],
      ["after", here],
    ]
  : [["", here]];
const runs: { label: string; argv: string[] }[] = [{ label: "node -e 0", argv: ["-e", "0"] }];
// `validate` is a command that does work: reading and checking a spec, as apply, render and a hub's
// status do (yaml, zod and the spec's code on top of commander).
const seed = resolve(here, "examples/seed.yaml");
for (const args of [["--version"], ["status", "--help"], ["expose", "--help"], ["validate", "--spec", seed]])
  for (const [tag, dir] of checkouts)
    runs.push({
      label: `porthole ${args.join(" ").replace(`${here}/`, "")}${tag ? ` (${tag})` : ""}`,
      argv: [resolve(dir as string, "bin/porthole.js"), ...args],
    });

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
    const p = spawnSync(process.execPath, r.argv, { stdio: "ignore" });
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
const base = median(times.get("node -e 0") as number[]);
const baseCpu = cpuMs("node -e 0");
console.log(
  `| command (${rounds} interleaved rounds) | median wall | × node -e 0 | mean CPU | × node -e 0 |`,
);
console.log("|---|---|---|---|---|");
for (const r of runs) {
  const m = median(times.get(r.label) as number[]);
  const c = cpuMs(r.label);
  console.log(
    `| \`${r.label}\` | ${m.toFixed(0)} ms | ${(m / base).toFixed(2)} | ${c.toFixed(0)} ms | ${(c / baseCpu).toFixed(2)} |`,
  );
}
