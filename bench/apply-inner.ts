// Runs INSIDE a lab hub (started by apply.bench.ts through world.exec): times the library's apply()
// in one process, the way a long-running hub daemon would call it, with porthole's real host drivers.
//
//   node --import tsx bench/apply-inner.ts BASE.yaml BIG.yaml PLUS.yaml [--warmup 1] [--iterations 1]
//
// One iteration: apply(BASE) (not timed: puts the host back to one forward), apply(BIG), apply(PLUS)
// (BIG plus one forward), apply(PLUS) again (nothing to do). loadSpec (YAML parse + validation) is timed
// on its own: the CLI pays it, apply() gets a parsed spec. Prints one JSON line with the samples and where
// the time of each apply went (time spent in each host driver call, the rest is JavaScript).
import { readFileSync } from "node:fs";
import { hostContext } from "../src/cli/context.ts";
import type { Host } from "../src/host/types.ts";
import { apply } from "../src/reconcile/reconcile.ts";
import { loadSpec } from "../src/spec/load.ts";
import type { Spec } from "../src/spec/types.ts";
import { cliArgs } from "./lab-bench.ts";

export interface InnerSample {
  step: "big" | "plus" | "noop";
  loadMs: number;
  applyMs: number;
  changed: boolean;
  /** Host driver time by "section.method" (ms, calls). */
  drivers: Record<string, { ms: number; calls: number }>;
}

const args = cliArgs();
const files = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
const [baseFile, bigFile, plusFile] = files;
if (!baseFile || !bigFile || !plusFile) {
  console.error("usage: apply-inner.ts BASE.yaml BIG.yaml PLUS.yaml [--warmup N] [--iterations N]");
  process.exit(2);
}
const warmup = args.number("--warmup", 1, 0, 10);
const iterations = args.number("--iterations", 1, 1, 50);

const ctx = hostContext(() => {});
const drivers: InnerSample["drivers"] = {};
ctx.host = timedHost(ctx.host, drivers);

function timedHost(host: Host, into: InnerSample["drivers"]): Host {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, impl] of Object.entries(host) as [string, Record<string, unknown>][]) {
    out[section] = {};
    for (const [name, fn] of Object.entries(impl)) {
      if (typeof fn !== "function") {
        (out[section] as Record<string, unknown>)[name] = fn;
        continue;
      }
      (out[section] as Record<string, unknown>)[name] = async (...a: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (fn as (...x: unknown[]) => Promise<unknown>)(...a);
        } finally {
          const k = `${section}.${name}`;
          const e = into[k] ?? { ms: 0, calls: 0 };
          e.ms += performance.now() - t0;
          e.calls++;
          into[k] = e;
        }
      };
    }
  }
  return out as unknown as Host;
}

function load(file: string): { spec: Spec; text: string; ms: number } {
  const text = readFileSync(file, "utf8");
  const t0 = performance.now();
  const r = loadSpec(text, file);
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`${file} does not validate:\n${r.report.slice(0, 2000)}`);
  return { spec: r.spec, text, ms };
}

async function timedApply(file: string, step: InnerSample["step"]): Promise<InnerSample> {
  const { spec, text, ms: loadMs } = load(file);
  for (const k of Object.keys(drivers)) delete drivers[k];
  const t0 = performance.now();
  const r = await apply(ctx, { spec, specText: text, hostName: "hub" });
  const applyMs = performance.now() - t0;
  const changed = r.changed;
  if (changed !== (step !== "noop"))
    throw new Error(`apply(${file}) ${changed ? "changed the host" : "changed nothing"}, expected otherwise`);
  return { step, loadMs, applyMs, changed, drivers: structuredClone(drivers) };
}

const samples: InnerSample[] = [];
for (let i = 0; i < warmup + iterations; i++) {
  const base = load(baseFile);
  await apply(ctx, { spec: base.spec, specText: base.text, hostName: "hub" });
  const round = [
    await timedApply(bigFile, "big"),
    await timedApply(plusFile, "plus"),
    await timedApply(plusFile, "noop"),
  ];
  if (i >= warmup) samples.push(...round);
}
console.log(JSON.stringify({ samples }));
