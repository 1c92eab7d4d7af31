// Benchmark: a hub with 250 peers and 10,000 forwards, from YAML text to rendered files.
// Measures loadSpec (YAML parse + validation), compile(hub) and renderFiles, several iterations after a
// warm-up, and prints the median and minimum. Goal: <= 200 ms for the whole path on the dev machine.
// loadSpec parses a valid spec with js-yaml; the `yaml` parser (with positions) only runs when there are
// diagnostics to locate, so its time is shown apart, as the cost of an invalid spec of this size.
//
//   npm run bench                      # nftables backend
//   npm run bench -- --iptables        # iptables backend
//   npm run bench -- --iterations 20
import { compile } from "../src/compile/compile.ts";
import { renderFiles } from "../src/compile/render.ts";
import { loadSpec } from "../src/spec/load.ts";
import { parseFast, parseYaml } from "../src/spec/parse.ts";
import { validate } from "../src/spec/validate.ts";
import { bigSpecYaml } from "./spec-gen.ts";

const GOAL_MS = 200;
const PEERS = 250;
const FORWARDS = 10_000;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const iterations = option("--iterations", 10);
const warmup = option("--warmup", 3);
const firewall = flag("--iptables") ? "iptables" : "nftables";

const text = bigSpecYaml({ peers: PEERS, forwards: FORWARDS, firewall });

interface Sample {
  load: number;
  compile: number;
  render: number;
  total: number;
}

function once(): { sample: Sample; bytes: number } {
  const t0 = performance.now();
  const r = loadSpec(text, "bench.yaml");
  const t1 = performance.now();
  if (!r.ok) throw new Error(`the benchmark spec does not validate:\n${r.report.slice(0, 2000)}`);
  const plan = compile(r.spec, "hub");
  const t2 = performance.now();
  const files = renderFiles(plan);
  const t3 = performance.now();
  const bytes = Object.values(files).reduce((n, f) => n + f.length, 0);
  return { sample: { load: t1 - t0, compile: t2 - t1, render: t3 - t2, total: t3 - t0 }, bytes };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const ms = (x: number) => `${x.toFixed(1).padStart(8)} ms`;

for (let i = 0; i < warmup; i++) once();
const samples: Sample[] = [];
let bytes = 0;
for (let i = 0; i < iterations; i++) {
  const r = once();
  samples.push(r.sample);
  bytes = r.bytes;
}

console.log(
  `porthole compile benchmark: ${PEERS} peers, ${FORWARDS} forwards, ${firewall}; ` +
    `spec ${(text.length / 1024).toFixed(0)} KiB, rendered ${(bytes / 1024).toFixed(0)} KiB; ` +
    `${iterations} iterations after ${warmup} warm-up (node ${process.version})`,
);
console.log(`${"".padEnd(26)}  median        min`);
for (const key of ["load", "compile", "render", "total"] as const) {
  const xs = samples.map((s) => s[key]);
  const label = {
    load: "loadSpec (parse+validate)",
    compile: "compile(hub)",
    render: "renderFiles",
    total: "total",
  }[key];
  console.log(`${label.padEnd(26)}${ms(median(xs))} ${ms(Math.min(...xs))}`);
}
// Where loadSpec's time goes: the YAML parser versus porthole's own checks; and, apart, what the full
// parser (`yaml`, with source positions: only for a spec with diagnostics) takes on the same text.
const yamlMs: number[] = [];
const validateMs: number[] = [];
for (let i = 0; i < iterations; i++) {
  const t0 = performance.now();
  const y = parseFast(text);
  const t1 = performance.now();
  if (!y) throw new Error("the fast parser gave up on the benchmark spec");
  validate(y.data);
  yamlMs.push(t1 - t0);
  validateMs.push(performance.now() - t1);
}
const fullMs: number[] = [];
for (let i = 0; i < Math.min(iterations, 5); i++) {
  const t0 = performance.now();
  parseYaml(text);
  fullMs.push(performance.now() - t0);
}
const row = (label: string, xs: number[]) =>
  console.log(`${label.padEnd(26)}${ms(median(xs))} ${ms(Math.min(...xs))}`);
row("  of which YAML (js-yaml)", yamlMs);
row("  of which validate", validateMs);
row("full parser (`yaml`)", fullMs);
const total = median(samples.map((s) => s.total));
console.log(`goal: <= ${GOAL_MS} ms total (median) — ${total <= GOAL_MS ? "met" : "NOT met"}`);
