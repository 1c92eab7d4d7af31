// Benchmark: new-connection rate through one forward with 1 forward installed vs with 10,000 (the
// measured one LAST in map/rule order: the worst case for iptables' linear chains), nftables and
// iptables, side by side in one run. Goal (issue 3, Performance): nftables 10k/1 >= 0.95.
//
//   node --import tsx bench/connrate.bench.ts [--forwards 10000] [--rounds 2] [--pairs 4] [--duration 2]
//       [--connections 64] [--threads 2] [--backends nftables,iptables]
//
// Load: wrk -H "Connection: close" from the client namespace (every request is a new TCP connection:
// SYN -> DNAT -> forward -> SNAT, the per-connection path the rules are on) to 203.0.113.1:PORT.
// Server: bench/support/fast-http.c (compiled with cc; fast-http.mjs without a compiler), which reads
// the request, answers 200 and closes.
//
// Two paths:
//   wg    the real one: client -> hub -> wireguard-go -> wireguard-go -> peer, hubs set up by
//         `porthole apply`.
//   veth  the firewall isolated: the same namespaces, but the hub's "wg0" is a plain veth to the peer
//         (same addresses, same MTU), with the exact ruleset porthole compiles for the hub, loaded by
//         porthole's own firewall reconcile step (bench/support/hub-firewall.ts). No userspace crypto in
//         the path, so the firewall's per-connection cost is a larger share of the total.
// Each path has two labs side by side, one hub with 1 forward and one with N, so the two are measured
// back to back without re-applying in between: the machine's background load changes by the second,
// and only tight alternation makes the two comparable. Per backend round (ABBA: nft, ipt, ipt, nft...)
// the four hubs get that backend, then PAIRS times: 1 and N alternately (ABBA), on both paths, DURATION
// seconds each. Which lab of a path holds 1 and which N swaps after every ROUND (each backend once),
// so a difference between the two labs themselves cancels out in the medians. Conntrack entries of the previous run are deleted (in that lab's hub and peer)
// before each run. Reports medians, the ratio of medians N/1, and the median of the back-to-back pair
// ratios. All four labs (unique names) are removed at the end, also on failure or Ctrl-C.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createWorld } from "../src/lab/create.ts";
import { labUp } from "../src/lab/lab.ts";
import type { LabHost } from "../src/lab/state.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import {
  type Backend,
  benchLabName,
  buildServer,
  cliArgs,
  type Fwd,
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
  TSX,
  vethTunnel,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

type PathName = "wg" | "veth";
const PATHS: PathName[] = ["wg", "veth"];
const PATH_LABEL: Record<PathName, string> = {
  wg: "client → hub → wireguard-go → peer",
  veth: "client → hub → veth → peer (firewall only)",
};
type Count = "one" | "many";
const COUNTS: Count[] = ["one", "many"];

const args = cliArgs();
const N = args.number("--forwards", 10_000, 2, 40_000);
const rounds = args.number("--rounds", 2, 1, 10);
const pairs = args.number("--pairs", 4, 1, 20);
const duration = args.number("--duration", 2, 1, 30);
const connections = args.number("--connections", 64, 1, 1000);
const threads = args.number("--threads", 2, 1, 16);
const backends = args.backends();
const budgetMs = args.number("--budget", 270, 30, 290) * 1000;
const command = ["node --import tsx bench/connrate.bench.ts", ...process.argv.slice(2)].join(" ");

requireLabMachine(["wrk", "conntrack"]);
requireBuiltCli();
const started = performance.now();
const FIRST_PORT = 10_000;
const measured = FIRST_PORT + N - 1; // the last forward: last DNAT/SNAT/accept rule with iptables
const forwards: Record<Count, Fwd[]> = {
  one: [{ name: "measured", port: measured, targetPort: measured }],
  many: forwardRange(FIRST_PORT, N),
};
const HUB_FIREWALL = [...TSX, join(REPO, "bench/support/hub-firewall.ts")];

interface Sample {
  path: PathName;
  backend: Backend;
  count: Count;
  /** Which back-to-back pair this run belongs to. */
  pair: string;
  rate: number;
  errors: string;
  busy: number;
}
const samples: Sample[] = [];
let server = "";
let backendRounds = 0;

type Slot = 0 | 1;
const SLOTS: Slot[] = [0, 1];
const names: Record<PathName, [string, string]> = {
  wg: [benchLabName("bwa"), benchLabName("bwb")],
  veth: [benchLabName("bva"), benchLabName("bvb")],
};
await withLabs([...names.wg, ...names.veth], async () => {
  console.error(`building labs ${[...names.wg, ...names.veth].join(", ")}...`);
  const wgUp = (name: string) =>
    labUp({ name, backend: backends[0] as Backend, mode: "snat", porthole: PORTHOLE });
  const vethUp = async (name: string) => {
    const w = await createWorld(name);
    await vethTunnel(w);
    return w;
  };
  // Two labs per path. Which one has 1 forward and which N swaps halfway (see `swapped`), so that a
  // difference between the two labs themselves cancels out.
  const labs: Record<PathName, [World, World]> = {
    wg: [await wgUp(names.wg[0]), await wgUp(names.wg[1])],
    veth: [await vethUp(names.veth[0]), await vethUp(names.veth[1])],
  };
  const at = (p: PathName, c: Count, swapped: boolean): World => labs[p][(c === "one") !== swapped ? 0 : 1];

  // Spec files: the WireGuard labs each have their own keys; the veth hubs only use the firewall part.
  const dir = join(labs.wg[0].dir, "bench");
  await mkdir(dir, { recursive: true });
  const specFile = new Map<string, string>();
  for (const slot of SLOTS) {
    const keys = await labKeys(labs.wg[slot]);
    for (const b of backends) {
      for (const c of COUNTS) {
        const f = join(dir, `${slot}-${b}-${c}.yaml`);
        await writeFile(f, labBenchSpec(keys.hub, keys.peer, b, forwards[c]));
        specFile.set(`${slot}-${b}-${c}`, f);
      }
    }
  }

  const serverArgv = await buildServer(dir);
  server = serverArgv[0]?.endsWith("fast-http") ? "fast-http.c (epoll, cc -O2)" : "fast-http.mjs (node:net)";
  for (const w of [...labs.wg, ...labs.veth]) {
    const s = await w.spawn("peer", [...serverArgv, String(measured)], { label: "fast-http" });
    await waitForLog(w, s.log, "listening");
    // Many short connections from one address: widen the client's port range, reuse TIME_WAIT ports.
    await w.exec("client", [
      "sysctl",
      "-qw",
      "net.ipv4.ip_local_port_range=1024 65000",
      "net.ipv4.tcp_tw_reuse=1",
    ]);
  }

  /** Puts backend b on the four hubs (in parallel: not measured), checks each path, warms it up. */
  const install = async (b: Backend, swapped: boolean) => {
    const jobs: Promise<unknown>[] = [];
    for (const c of COUNTS) {
      const wg = at("wg", c, swapped);
      const wgSpec = specFile.get(`${labs.wg.indexOf(wg)}-${b}-${c}`) as string;
      jobs.push(
        wg.exec("hub", [...PORTHOLE, "apply", "--host", "hub", "--spec", wgSpec], { cwd: REPO }),
        at("veth", c, swapped).exec("hub", [...HUB_FIREWALL, specFile.get(`0-${b}-${c}`) as string], {
          cwd: REPO,
        }),
      );
    }
    await Promise.all(jobs);
    for (const p of PATHS) {
      for (const c of COUNTS) {
        const w = at(p, c, swapped);
        const r = await w.exec("client", ["curl", "-sS", "-m", "5", `http://${LAB.hubPublic}:${measured}/`], {
          allowFail: true,
        });
        if (r.stdout.trim() !== "ok")
          throw new Error(`${p}: no answer through forward ${measured} (${b}, ${c}): ${r.stderr.trim()}`);
        if (b === "iptables" && c === "many") await checkLast(w);
        await wrk(w, 1); // warm-up
      }
    }
  };

  let lastMs = 0;
  const order = Array.from({ length: rounds }, (_, r) => (r % 2 ? [...backends].reverse() : backends)).flat();
  for (const [i, b] of order.entries()) {
    if (i > 0 && performance.now() - started + lastMs > budgetMs) {
      console.error(`time budget reached: stopping after ${i} backend rounds`);
      break;
    }
    const t0 = performance.now();
    const swapped = Math.floor(i / backends.length) % 2 === 1;
    await install(b, swapped);
    for (let k = 0; k < pairs; k++) {
      const cs: Count[] = k % 2 ? ["many", "one"] : ["one", "many"];
      for (const c of cs) {
        for (const p of PATHS) {
          const w = at(p, c, swapped);
          const r = await load(w);
          samples.push({ path: p, backend: b, count: c, pair: `${i}.${k}`, ...r });
          console.error(
            `${b.padEnd(8)} ${p.padEnd(4)} ${(c === "one" ? "1" : String(N)).padStart(6)} forwards (lab ${w.name}): ${Math.round(r.rate)} conn/s (machine CPU busy ${Math.round(r.busy * 100)}%)${r.errors ? ` errors: ${r.errors}` : ""}`,
          );
        }
      }
    }
    backendRounds++;
    lastMs = performance.now() - t0;
  }
});

// ------------------------------------------------------------------------------------------------
// report

const fmtRate = (x: number) => (Number.isNaN(x) ? "–" : `${Math.round(x).toLocaleString("en-US")}/s`);
const spread = (xs: number[]) =>
  xs.length > 1
    ? `${fmtRate(median(xs))} (${fmtRate(Math.min(...xs))}–${fmtRate(Math.max(...xs))})`
    : fmtRate(median(xs));
const rows: string[][] = [];
const notes: string[] = [];
for (const p of PATHS) {
  for (const b of backends) {
    const pick = (c: Count) => samples.filter((s) => s.path === p && s.backend === b && s.count === c);
    const one = pick("one");
    const many = pick("many");
    const ratio = median(many.map((s) => s.rate)) / median(one.map((s) => s.rate));
    const paired = one.flatMap((a) => {
      const z = many.find((s) => s.pair === a.pair);
      return z ? [z.rate / a.rate] : [];
    });
    const pairedText = paired.length
      ? `${median(paired).toFixed(2)} (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})`
      : "–";
    const goal = b === "nftables" ? "≥ 0.95" : "";
    const mark = b === "nftables" && !Number.isNaN(ratio) ? (ratio >= 0.95 ? " ✓" : " ✗") : "";
    const busy = median([...one, ...many].map((s) => s.busy));
    rows.push([
      PATH_LABEL[p],
      b,
      spread(one.map((s) => s.rate)),
      spread(many.map((s) => s.rate)),
      `**${ratio.toFixed(3)}**${mark}`,
      pairedText,
      `${Math.round(busy * 100)}%`,
      goal,
    ]);
    const errs = [...one, ...many].filter((s) => s.errors);
    if (errs.length)
      notes.push(
        `${p} ${b}: wrk reported errors in ${errs.length} runs (${errs.map((e) => e.errors).join("; ")})`,
      );
  }
}

const count = N.toLocaleString("en-US");
const perCell = samples.length / (PATHS.length * backends.length * COUNTS.length);
console.log(`
### New-connection rate through a forward: 1 forward vs ${count} (the measured one last)

\`${command}\`

${backendRounds} backend rounds (ABBA), ${perCell} runs of ${duration} s per cell, 1 and ${count} alternating
back to back on hubs side by side (swapping roles each round); wrk -t${threads} -c${connections} -H "Connection: close" from the client
namespace; server on the peer: ${server}; snat mode. ${await machineNote()}

${markdownTable(
  [
    "path",
    "backend",
    "1 forward",
    `${count} forwards`,
    `${count} / 1 (medians)`,
    "back-to-back pairs: median (min–max)",
    "machine CPU busy",
    "goal",
  ],
  rows,
)}
${notes.length ? `\n${notes.map((n) => `- ${n}`).join("\n")}\n` : ""}`);

// ------------------------------------------------------------------------------------------------

/** With iptables, the measured forward's DNAT rule must be the last one (the worst case). */
async function checkLast(world: World): Promise<void> {
  const r = await world.exec("hub", ["iptables", "-w", "-t", "nat", "-S", "PORTHOLE-PREROUTING"]);
  const dnat = r.stdout.split("\n").filter((l) => / -j DNAT /.test(l));
  const last = dnat[dnat.length - 1] ?? "";
  if (dnat.length < N || !last.includes(`--dport ${measured} `))
    throw new Error(`the measured forward is not the last of ${dnat.length} DNAT rules: ${last}`);
}

/** Deletes the TCP conntrack entries of earlier runs in the lab's hub and peer (only those namespaces). */
async function flushConntrack(world: World): Promise<void> {
  for (const h of ["hub", "peer"] as LabHost[])
    await world.exec(h, ["conntrack", "-D", "-p", "tcp"], { allowFail: true });
}

async function cpuTicks(): Promise<{ busy: number; total: number }> {
  const [cpu] = (await readFile("/proc/stat", "utf8")).split("\n");
  const v = (cpu ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

function wrk(world: World, seconds: number) {
  return world.exec(
    "client",
    [
      "wrk",
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "-H",
      "Connection: close",
      `http://${LAB.hubPublic}:${measured}/`,
    ],
    { timeoutMs: (seconds + 30) * 1000 },
  );
}

async function load(world: World): Promise<{ rate: number; errors: string; busy: number }> {
  await flushConntrack(world);
  const c0 = await cpuTicks();
  const out = (await wrk(world, duration)).stdout;
  const c1 = await cpuTicks();
  await flushConntrack(world); // keep the machine-wide conntrack table small between runs
  const rate = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  if (!rate) throw new Error(`wrk printed no rate:\n${out}`);
  const errors = [/Socket errors:[^\n]*/.exec(out)?.[0], /Non-2xx[^\n]*/.exec(out)?.[0]]
    .filter(Boolean)
    .join("; ");
  return { rate, errors, busy: (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total) };
}
