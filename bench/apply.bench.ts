// Benchmark: applying a big spec to the lab hub, for real (wireguard-go, nft / iptables-restore in the
// hub's namespace). Goals (issue 3, Performance): apply of 10,000 forwards <= 1 s with nftables; adding
// one forward to them <= 100 ms. The iptables backend is measured beside it.
//
//   node --import tsx bench/apply.bench.ts [--forwards 10000] [--reps 5] [--backends nftables,iptables]
//
// Needs root and the lab's tools (like `porthole lab up`). Builds its own lab (unique name) and removes it
// at the end, also on failure or Ctrl-C. Forwards are real: public tcp/10000+i -> rpi:10000+i; after the
// first apply a request from the client namespace goes through the last forward and the added one.
//
// Each rep, for each backend (order alternating): reset the hub to one forward, then time
//   - the whole CLI, `porthole apply --host hub --spec BIG` inside the hub (nsenter + node start-up +
//     YAML parse + apply + output), for BIG, then BIG+1, then BIG+1 again (no changes);
//   - apply() in-process (bench/apply-inner.ts inside the hub: one warm-up round, then the same three
//     calls timed; the YAML is parsed outside the timed call, as a daemon holding the spec would).
// Prints medians (min–max) as a markdown table.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { labUp } from "../src/lab/lab.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import type { InnerSample } from "./apply-inner.ts";
import {
  type Backend,
  benchLabName,
  cliArgs,
  fmtMs,
  forwardRange,
  labBenchSpec,
  labKeys,
  machineNote,
  markdownTable,
  median,
  PORTHOLE,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  spreadMs,
  TSX,
  timeExec,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const FIRST_PORT = 10_000;
const GOAL = { big: 1000, plus: 100 };

const args = cliArgs();
const N = args.number("--forwards", 10_000, 1, 40_000);
const reps = args.number("--reps", 5, 1, 20);
const backends = args.backends();
const budgetMs = args.number("--budget", 270, 30, 290) * 1000;
const command = ["node --import tsx bench/apply.bench.ts", ...process.argv.slice(2)].join(" ");

requireLabMachine();
requireBuiltCli();
const started = performance.now();
const name = benchLabName("ba");
const names = [name];

interface Row {
  cli: number[];
  inner: number[];
}
type Step = InnerSample["step"];
const results = new Map<Backend, Record<Step, Row>>();
const innerSamples = new Map<Backend, InnerSample[]>();
const startup: number[] = [];
const loadMs: number[] = [];
let repsDone = 0;

await withLabs(names, async () => {
  console.error(`building lab ${name}...`);
  const world = await labUp({ name, backend: backends[0] as Backend, mode: "snat", porthole: PORTHOLE });
  const keys = await labKeys(world);
  const dir = world.hostRecord("hub").configDir;
  const big = forwardRange(FIRST_PORT, N);
  const extra = { name: "extra", port: FIRST_PORT + N, targetPort: FIRST_PORT + N };
  const files = new Map<Backend, { base: string; big: string; plus: string }>();
  for (const b of backends) {
    const f = {
      base: join(dir, `bench-${b}-1.yaml`),
      big: join(dir, `bench-${b}-N.yaml`),
      plus: join(dir, `bench-${b}-N+1.yaml`),
    };
    await writeFile(
      f.base,
      labBenchSpec(keys.hub, keys.peer, b, [{ name: "share", port: 80, targetPort: 8080 }]),
    );
    await writeFile(f.big, labBenchSpec(keys.hub, keys.peer, b, big));
    await writeFile(f.plus, labBenchSpec(keys.hub, keys.peer, b, [...big, extra]));
    files.set(b, f);
    results.set(b, {
      big: { cli: [], inner: [] },
      plus: { cli: [], inner: [] },
      noop: { cli: [], inner: [] },
    });
    innerSamples.set(b, []);
  }
  // Servers behind the last forward and the added one, to check the forwards are real.
  const lastPort = FIRST_PORT + N - 1;
  const server = await world.spawn(
    "peer",
    [process.execPath, join(REPO, "bench/support/fast-http.mjs"), String(lastPort), String(extra.port)],
    { label: "fast-http" },
  );
  await waitForLog(world, server.log, "listening");

  const cli = (spec: string) =>
    timeExec(world, "hub", [...PORTHOLE, "apply", "--host", "hub", "--spec", spec], { cwd: REPO });
  let repMs = 0;
  for (let rep = 0; rep < reps; rep++) {
    if (rep > 0 && performance.now() - started + repMs > budgetMs) {
      console.error(`time budget reached: stopping after ${rep} reps`);
      break;
    }
    const t0 = performance.now();
    startup.push((await timeExec(world, "hub", [...PORTHOLE, "--version"])).ms);
    const order = rep % 2 ? [...backends].reverse() : backends;
    for (const b of order) {
      const f = files.get(b) as { base: string; big: string; plus: string };
      const row = results.get(b) as Record<Step, Row>;
      await cli(f.base);
      const tBig = await cli(f.big);
      if (rep === 0) await expectThrough(world, lastPort, `the last of ${N} forwards (${b})`);
      const tPlus = await cli(f.plus);
      if (rep === 0) await expectThrough(world, extra.port, `the added forward (${b})`);
      const tNoop = await cli(f.plus);
      // +1 forward is one change, plus forgetting tracked flows to its port when conntrack has any.
      if (!/applied/.test(tBig.stdout) || !/applied [12] changes?/.test(tPlus.stdout))
        throw new Error(`unexpected apply output:\n${tBig.stdout.slice(-500)}\n${tPlus.stdout}`);
      if (!/no changes/.test(tNoop.stdout)) throw new Error(`re-apply was not a no-op: ${tNoop.stdout}`);
      row.big.cli.push(tBig.ms);
      row.plus.cli.push(tPlus.ms);
      row.noop.cli.push(tNoop.ms);
      console.error(
        `rep ${rep + 1} ${b} CLI: ${N} forwards ${fmtMs(tBig.ms)}, +1 ${fmtMs(tPlus.ms)}, no-op ${fmtMs(tNoop.ms)}`,
      );

      const inner = await world.exec(
        "hub",
        [
          ...TSX,
          join(REPO, "bench/apply-inner.ts"),
          f.base,
          f.big,
          f.plus,
          "--warmup",
          "1",
          "--iterations",
          "1",
        ],
        { cwd: REPO, timeoutMs: 120_000 },
      );
      const { samples } = JSON.parse(inner.stdout.trim().split("\n").pop() as string) as {
        samples: InnerSample[];
      };
      for (const s of samples) {
        row[s.step].inner.push(s.applyMs);
        if (s.step === "big") loadMs.push(s.loadMs);
      }
      innerSamples.get(b)?.push(...samples);
      const get = (st: Step) => fmtMs(samples.find((s) => s.step === st)?.applyMs ?? Number.NaN);
      console.error(
        `rep ${rep + 1} ${b} apply(): ${N} forwards ${get("big")}, +1 ${get("plus")}, no-op ${get("noop")}`,
      );
    }
    repsDone++;
    repMs = performance.now() - t0;
  }
});

// ------------------------------------------------------------------------------------------------
// report

const count = N.toLocaleString("en-US");
const goalMark = (ms: number, goal: number | undefined) =>
  goal === undefined || Number.isNaN(ms) ? "" : ms <= goal ? " ✓" : " ✗";
const rows: string[][] = [];
for (const b of backends) {
  const r = results.get(b) as Record<Step, Row>;
  const steps: [Step, string, number | undefined][] = [
    ["big", `apply ${count} forwards (hub had 1)`, GOAL.big],
    ["plus", `add 1 forward to ${count}`, GOAL.plus],
    ["noop", "apply again, no changes", undefined],
  ];
  for (const [step, label, goal] of steps) {
    const g = b === "nftables" ? goal : undefined;
    rows.push([
      b,
      label,
      spreadMs(r[step].cli) + goalMark(median(r[step].cli), g),
      spreadMs(r[step].inner) + goalMark(median(r[step].inner), g),
      g === undefined ? "" : `≤ ${fmtMs(g)}`,
    ]);
  }
}
rows.push(["", "CLI start-up alone (`porthole --version`)", spreadMs(startup), "", ""]);
rows.push([
  "",
  `loadSpec of the ${count}-forward YAML (in the CLI time, not in apply())`,
  "",
  spreadMs(loadMs),
  "",
]);

const breakdown: string[][] = [];
for (const b of backends) {
  for (const step of ["big", "plus", "noop"] as Step[]) {
    const ss = (innerSamples.get(b) ?? []).filter((s) => s.step === step);
    if (!ss.length) continue;
    const keys = [...new Set(ss.flatMap((s) => Object.keys(s.drivers)))];
    const parts = keys
      .map((k) => {
        const ms = median(ss.map((s) => s.drivers[k]?.ms ?? 0));
        const calls = ss[0]?.drivers[k]?.calls ?? 0;
        return { k, ms, calls };
      })
      .filter((p) => p.ms >= 5)
      .sort((x, y) => y.ms - x.ms)
      .map((p) => `${p.k}${p.calls > 1 ? ` ×${p.calls}` : ""} ${fmtMs(p.ms)}`);
    const js = median(ss.map((s) => s.applyMs - Object.values(s.drivers).reduce((n, d) => n + d.ms, 0)));
    const label = { big: `${count} forwards`, plus: "+1 forward", noop: "no changes" }[step];
    breakdown.push([b, label, fmtMs(median(ss.map((s) => s.applyMs))), parts.join(", ") || "–", fmtMs(js)]);
  }
}

console.log(`
### Apply on the lab hub (${count} forwards, real wireguard-go hub, snat)

\`${command}\` — ${repsDone} reps, backends alternating; median (min–max). ${await machineNote()}

${markdownTable(
  ["backend", "step", "`porthole apply` (whole CLI run in the hub)", "`apply()` in-process", "goal"],
  rows,
)}

Where the in-process time goes (medians; host driver calls ≥ 5 ms; the rest is JavaScript: compile, diff,
parsing the previously applied spec, JSON state):

${markdownTable(["backend", "step", "apply()", "host drivers", "JavaScript"], breakdown)}
`);

// ------------------------------------------------------------------------------------------------

async function expectThrough(world: World, port: number, what: string): Promise<void> {
  const r = await world.exec("client", ["curl", "-sS", "-m", "5", `http://${LAB.hubPublic}:${port}/`], {
    allowFail: true,
  });
  if (r.stdout.trim() !== "ok")
    throw new Error(`${what}: no answer from the peer through ${LAB.hubPublic}:${port}: ${r.stderr.trim()}`);
}
