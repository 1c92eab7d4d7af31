// How fast service comes back after the home router's public address changes: with the peer agent
// versus plain PersistentKeepalive 25, alternating trials in one lab. The time is measured by
// support/service-probe.mjs in the client: a new GET every 50 ms, so a lost SYN costs only its own
// attempt; each trial also runs the old way of measuring (one `curl -m 1` at a time, 250 ms apart)
// beside it. A control per round blocks the hub→home path for a known time D and reopens it: what the
// probe reports minus D is the measurement's own error.
// Run: node --import tsx bench/roaming.bench.ts [TRIALS] [--baseline path/to/other/bin/porthole.js]
//      (--baseline: also run that build's agent, e.g. main's, as a variant in the same rounds)
//      [--agent-args="--interval 1000 --no-nudge"]...: also this build's agent with these arguments
//      [--idle SECONDS]: then the steady-state cost of each variant on an idle tunnel
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { run } from "../src/host/run.ts";
import { labUpJoined, WEBDAV } from "../src/lab/lab.ts";
import { changeHomeAddress } from "../src/lab/renumber.ts";
import { destroyWorld } from "../src/lab/teardown.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";

const repo = resolve(import.meta.dirname, "..");
const PORTHOLE = [process.execPath, join(repo, "bin/porthole.js")];
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    baseline: { type: "string" },
    "agent-args": { type: "string", multiple: true },
    idle: { type: "string" },
  },
});
const trials = Number(positionals[0] ?? 4);
const idleS = Number(values.idle ?? 0);
const name = `roam${process.pid.toString(36).slice(-3)}`;
const URL = `http://${LAB.hubPublic}/hello.txt`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Variant {
  label: string;
  /** The agent's command line; null: no agent (plain PersistentKeepalive). */
  agent: string[] | null;
}
const variants: Variant[] = [
  { label: "peer agent (this build)", agent: [...PORTHOLE, "peer", "run"] },
  ...(values.baseline
    ? [
        {
          label: `peer agent (${values.baseline})`,
          agent: [process.execPath, values.baseline, "peer", "run"],
        },
      ]
    : []),
  ...(values["agent-args"] ?? []).map((a) => ({
    label: `peer agent (this build) ${a}`,
    agent: [...PORTHOLE, "peer", "run", ...a.split(" ")],
  })),
  { label: "plain PersistentKeepalive 25", agent: null },
];

/** The old measurement: one `curl -m 1` at a time, 250 ms apart; ms from `t` to the end of the first 200. */
async function curlPoll(world: World, t: number, stop: { done: boolean }): Promise<number> {
  while (!stop.done && Date.now() - t < 60_000) {
    const r = await world.exec(
      "client",
      [
        "curl",
        "-s",
        "-m",
        "1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        `${WEBDAV.user}:${WEBDAV.pass}`,
        URL,
      ],
      { allowFail: true },
    );
    if (r.stdout === "200") return Date.now() - t;
    await sleep(250);
  }
  return Number.POSITIVE_INFINITY;
}

/** The probe in the client, running for the whole bench; `measure(t)` resolves with its report for T = t. */
function startProbe(world: World) {
  const argv = world.enterArgv("client", [
    process.execPath,
    join(repo, "bench/support/service-probe.mjs"),
    URL,
    `${WEBDAV.user}:${WEBDAV.pass}`,
    "50",
    "5000",
  ]);
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on("line", (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((r) => waiting.push(r));
  const ready = next();
  return {
    ready,
    measure(t: number): Promise<{ okEnd: number; okStart: number }> {
      const line = next();
      child.stdin.write(`${t}\n`);
      return line.then((l) => {
        const p = JSON.parse(l) as { firstOkEnd: number; firstOkStart: number };
        return { okEnd: p.firstOkEnd - t, okStart: p.firstOkStart - t };
      });
    },
    stop: () => child.stdin.end(),
    pid: child.pid,
  };
}

/**
 * Runs `change`, which calls `back()` when the link is back (T), then measures from T with the probe
 * and the old poll side by side.
 */
async function trial(
  world: World,
  probe: ReturnType<typeof startProbe>,
  change: (back: () => void) => Promise<void>,
) {
  const before = Date.now();
  let t = 0;
  await change(() => {
    t = Date.now();
  });
  const stop = { done: false };
  const [p, poll] = await Promise.all([
    probe.measure(t),
    curlPoll(world, t, stop).finally(() => {
      stop.done = true;
    }),
  ]);
  return { ...p, poll, changeMs: t - before, t };
}

const DROP_TABLE = "ro_roaming_control";
/** The internet (the client namespace) drops what the hub sends to the home router, or stops dropping. */
async function blockHubToHome(world: World, on: boolean): Promise<void> {
  const text = on
    ? `table ip ${DROP_TABLE} { chain forward { type filter hook forward priority 0; policy accept; ip saddr ${LAB.hubPublic} ip daddr 198.51.100.0/24 drop; }; }`
    : `delete table ip ${DROP_TABLE}`;
  await world.exec("client", ["nft", "-f", "/dev/stdin"], { input: `${text}\n` });
}

function setAgent(world: World, v: Variant) {
  const running = world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
  return (async () => {
    if (running && running.argv.join(" ") !== v.agent?.join(" ")) await world.stop(running.pid);
    if (v.agent && running?.argv.join(" ") !== v.agent.join(" "))
      await world.spawn("peer", v.agent, { label: "peer-agent" });
  })();
}

/** CPU seconds (user + system, with reaped children) of a process. */
function cpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0) / 100;
}
async function wgPackets(world: World, host: "peer" | "hub"): Promise<{ rx: number; tx: number }> {
  const r = await run(["ip", "-n", world.netns(host), "-j", "-s", "link", "show", "dev", "wg0"]);
  const s = (JSON.parse(r.stdout) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[])[0];
  return { rx: s?.stats64.rx.packets ?? 0, tx: s?.stats64.tx.packets ?? 0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const s = (ms: number) => (ms / 1000).toFixed(2);

try {
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const probe = startProbe(world);
  await probe.ready;
  const results = new Map<string, Awaited<ReturnType<typeof trial>>[]>();
  const control: { d: number; okEnd: number; poll: number }[] = [];
  let n = 3;
  for (let i = 0; i < trials; i++) {
    for (const v of variants) {
      await setAgent(world, v);
      await sleep(3000 + Math.random() * 5000); // a random phase of the probe and the keepalive
      const addr = `198.51.100.${n++}`;
      const r = await trial(world, probe, (back) => changeHomeAddress(world, addr, { onMoved: back }));
      results.set(v.label, [...(results.get(v.label) ?? []), r]);
      console.error(
        `${v.label}: probe ${r.okEnd} ms, old poll ${r.poll} ms (the link was back ${r.changeMs} ms after the change began)`,
      );
    }
    // Control: the path is blocked at T and reopened D ms later (D known).
    const d = 200 + Math.round(Math.random() * 800);
    await sleep(1000);
    let opened = 0;
    const r = await trial(world, probe, async (back) => {
      await blockHubToHome(world, true);
      back();
      setTimeout(() => {
        opened = Date.now();
        void blockHubToHome(world, false);
      }, d);
    });
    control.push({ d: opened - r.t, okEnd: r.okEnd, poll: r.poll });
    const last = control.at(-1);
    console.error(`control: reopened after ${last?.d} ms; probe ${r.okEnd} ms, old poll ${r.poll} ms`);
  }

  console.log("| after the home address changes | trials | probe median | probe max | old poll median |");
  console.log("|---|---|---|---|---|");
  for (const [label, xs] of results) {
    const ok = xs.map((x) => x.okEnd);
    console.log(
      `| ${label} | ${xs.length} | ${s(median(ok))} s | ${s(Math.max(...ok))} s | ${s(median(xs.map((x) => x.poll)))} s |`,
    );
  }
  const err = control.map((c) => c.okEnd - c.d);
  console.log(
    `\ncontrol (path reopened after a known ${control.map((c) => c.d).join(", ")} ms): probe − known = ` +
      `${err.join(", ")} ms (median ${median(err)}); old poll − known = ${control.map((c) => c.poll - c.d).join(", ")} ms`,
  );

  if (idleS > 0) {
    const hub = world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
    probe.stop();
    console.log(`\n| idle tunnel, ${idleS} s | peer wg0 packets/s out / in | agent CPU | hub daemon CPU |`);
    console.log("|---|---|---|---|");
    for (const v of variants) {
      await setAgent(world, v);
      await sleep(3000);
      const agent = world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
      const p0 = await wgPackets(world, "peer");
      const a0 = agent ? cpuS(agent.pid) : 0;
      const h0 = hub ? cpuS(hub.pid) : 0;
      await sleep(idleS * 1000);
      const p1 = await wgPackets(world, "peer");
      const a = agent ? cpuS(agent.pid) - a0 : 0;
      const h = hub ? cpuS(hub.pid) - h0 : 0;
      const rate = (x: number) => (x / idleS).toFixed(2);
      console.log(
        `| ${v.label} | ${rate(p1.tx - p0.tx)} / ${rate(p1.rx - p0.rx)} | ${((a / idleS) * 100).toFixed(2)} % | ${((h / idleS) * 100).toFixed(2)} % |`,
      );
    }
  }
  probe.stop();
} finally {
  await destroyWorld(name);
}
