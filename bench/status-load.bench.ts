// Benchmark: `porthole status` and the hub daemon's memory as the conntrack table grows (issue 13 §3), on
// the lab of `porthole lab up` (hub daemon, joined peer) with 10,000 forwards. Per table size the hub's
// conntrack is loaded with that many entries (`conntrack -R`): DNAT'd connections from many client
// addresses to the forwards' public ports (spread over all of them), one in four ESTABLISHED and carrying
// the mark the hub's forward chain sets on an open connection (OPEN_MARK.established), the rest TIME_WAIT
// with the mark a closed one carries (established | closed) — `conntrack -I` does not pass the ruleset,
// so the bench writes the marks it would have set; test/e2e/counters.test.ts checks the ruleset sets them.
// Then, alternating per rep: `porthole status --json` as a whole CLI run, the status request alone (curl
// on the daemon's unix socket), and the two ways to count in conntrack beside each other: the listing
// filtered by mark in the kernel (porthole's) and by state in user space (what status did before), and
// /metrics (the same status without the targets' TCP probes). The
// daemon's RSS is read after each size and again after a few of its 2 s reconcile rounds. The CLI is
// timed twice: `porthole status` (the text a person reads) and `status --json`.
// With `--baseline DIR` (another built checkout, e.g. a worktree of main) every rep also runs that
// checkout's daemon and CLI on the same lab: the hub daemon is swapped (SIGTERM, which leaves the tunnel
// and the table up, then the other `hub run`) and the order alternates, so the two share the load.
//
//   node --import tsx bench/status-load.bench.ts [--forwards 10000] [--sizes 1000,10000,100000] [--reps 3]
//     [--baseline DIR] [--lab-tag sl]   (the lab's name: the tag and this process's id)
//
// Needs root and the lab's tools. Builds its own lab (unique name), removes it at the end, also on failure.
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { labUpJoined, WEBDAV } from "../src/lab/lab.ts";
import { LAB } from "../src/lab/topology.ts";
import { OPEN_MARK } from "../src/plan/plan.ts";
import {
  benchLabName,
  cliArgs,
  fillHubForwards,
  fmtMs,
  machineNote,
  markdownTable,
  median,
  PORTHOLE,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  spreadMs,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const FIRST_PORT = 10_000;
const args = cliArgs();
const N = args.number("--forwards", 10_000, 1, 40_000);
const reps = args.number("--reps", 3, 1, 20);
const sizesArg = process.argv[process.argv.indexOf("--sizes") + 1];
const sizes =
  process.argv.includes("--sizes") && sizesArg ? sizesArg.split(",").map(Number) : [1000, 10_000, 100_000];
if (sizes.some((n) => !Number.isInteger(n) || n < 4 || n > 200_000)) {
  console.error(
    `--sizes: ${JSON.stringify(sizesArg)} is not accepted; give whole numbers 4-200000, comma-separated`,
  );
  process.exit(2);
}
const command = ["node --import tsx bench/status-load.bench.ts", ...process.argv.slice(2)].join(" ");
const baselineDir = process.argv.includes("--baseline")
  ? process.argv[process.argv.indexOf("--baseline") + 1]
  : undefined;
/** The checkouts compared: this one, and --baseline's. */
const variants = [
  { label: "this", porthole: PORTHOLE },
  ...(baselineDir
    ? [{ label: "baseline", porthole: [process.execPath, join(baselineDir, "bin/porthole.js")] }]
    : []),
];

const { established, closed } = OPEN_MARK;
const hex = (n: number) => `0x${n.toString(16)}`;
/** /proc's clock tick (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/** `conntrack -R` lines: n DNAT'd connections to the forwards' ports, one in four open (see above). */
function entries(n: number, peer: string): string {
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
  return `${out.join("\n")}\n`;
}

interface Sample {
  ms: number;
  cpu: number;
}
/** One checkout's numbers at one size. */
interface Timings {
  counted: number[];
  /** How old the counts each `status --json` answered with were (countedSecondsAgo; absent: 0). */
  ages: number[];
  text: Sample[];
  cli: Sample[];
  api: Sample[];
  /** The request `porthole status` (text) makes: GET /v1/status?forwards=summary. */
  summary: Sample[];
  metrics: Sample[];
}
interface Row {
  size: number;
  of: Record<string, Timings>;
  byMark: Sample[];
  byState: Sample[];
  /** `node -e 0`: the floor of any CLI run under the same load. */
  node: Sample[];
  idleCpuPerS: number;
  rss: number;
  rssSteady: number;
  hwm: number;
}
const rows: Row[] = [];
let rssStart = 0;

requireLabMachine(["conntrack"]);
requireBuiltCli();
const tag = process.argv.includes("--lab-tag") ? process.argv[process.argv.indexOf("--lab-tag") + 1] : "sl";
if (!tag || !/^[a-z]{2,4}$/.test(tag)) {
  console.error(`--lab-tag: ${JSON.stringify(tag)} is not accepted; give 2-4 lowercase letters`);
  process.exit(2);
}
const name = benchLabName(tag);
await withLabs([name], async () => {
  console.error(`building lab ${name} (hub daemon, joined peer)...`);
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const hub = world.hostRecord("hub");
  const sock = join(hub.stateDir, "api.sock");
  const server = await world.spawn(
    "peer",
    [process.execPath, join(REPO, "bench/support/fast-http.mjs"), String(FIRST_PORT + N - 1)],
    { label: "fast-http" },
  );
  await waitForLog(world, server.log, "listening");
  console.error(`adding ${N} forwards...`);
  await fillHubForwards(world, join(hub.configDir, "porthole.yaml"), FIRST_PORT, N);
  const running = world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
  if (!running) throw new Error("the hub daemon is not running");
  let daemon = { pid: running.pid, label: "this" };
  /** Runs `v`'s hub daemon (the other one stopped), ready when its API answers. */
  const use = async (v: (typeof variants)[number]) => {
    if (daemon.label === v.label) return;
    await world.stop(daemon.pid);
    const started = await world.spawn("hub", [...v.porthole, "hub", "run"], { label: `hub-${v.label}` });
    daemon = { pid: started.pid, label: v.label };
    for (let i = 0; ; i++) {
      const r = await world.exec("hub", [...v.porthole, "status", "--json"], { allowFail: true });
      if (r.code === 0 && (JSON.parse(r.stdout) as { daemon?: { listening?: boolean } }).daemon?.listening)
        return;
      const alive = world.running().some((p) => p.pid === started.pid);
      if (!alive || i > 300)
        throw new Error(`${v.label}'s hub daemon did not answer:\n${world.logTail(started.log)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const first = JSON.parse((await world.exec("hub", [...PORTHOLE, "status", "--json"])).stdout) as {
    peers: { name: string; address: string }[];
  };
  const peer = first.peers.find((p) => p.name === WEBDAV.peer)?.address;
  if (!peer) throw new Error(`no peer ${WEBDAV.peer} in the hub's status`);
  rssStart = await rssMiB(daemon.pid, "VmRSS");

  const file = join(hub.stateDir, "bench.conntrack");
  for (const size of sizes) {
    await world.exec("hub", ["conntrack", "-F"], { allowFail: true });
    await writeFile(file, entries(size, peer));
    await world.exec("hub", ["conntrack", "-R", file], { allowFail: true, timeoutMs: 900_000 });
    await rm(file, { force: true });
    const loaded = Number((await world.exec("hub", ["conntrack", "-C"])).stdout.trim());
    if (loaded < size) throw new Error(`conntrack holds ${loaded} entries after loading ${size}`);
    // The running daemon may answer with a count from before the load (hub/census.ts), saying when it
    // was made: every status timed below must carry a count of this table.
    const loadedAt = Date.now();
    for (let i = 0; ; i++) {
      const r = await world.exec("hub", [...PORTHOLE, "status", "--json"]);
      const at = (JSON.parse(r.stdout) as { countedAt?: string }).countedAt;
      if (!at || Date.parse(at) >= loadedAt) break;
      if (i > 60) throw new Error(`no status counted the loaded table within a minute (the last: ${at})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const row: Row = {
      size,
      of: Object.fromEntries(
        variants.map((v) => [
          v.label,
          { counted: [], ages: [], text: [], cli: [], api: [], summary: [], metrics: [] },
        ]),
      ),
      byMark: [],
      byState: [],
      node: [],
      idleCpuPerS: 0,
      rss: 0,
      rssSteady: 0,
      hwm: 0,
    };
    // Each step: wall time and CPU time (the command's, with its children; for a request, the daemon's).
    const timed = async (argv: string[]) => {
      const t0 = performance.now();
      // sh reports its children's CPU time (cutime + cstime, clock ticks) after the command's output.
      const r = await world.exec("hub", ["sh", "-c", '"$@"; cat /proc/$$/stat', "sh", ...argv], {
        cwd: REPO,
      });
      const ms = performance.now() - t0;
      const lines = r.stdout.trimEnd().split("\n");
      const stat = (lines.pop() ?? "").split(") ")[1]?.split(" ") ?? [];
      return { ms, cpu: (Number(stat[13]) + Number(stat[14])) * TICK_MS, stdout: lines.join("\n") };
    };
    const cli = async (v: (typeof variants)[number], t: Timings) => {
      const r = await timed([...v.porthole, "status", "--json"]);
      const s = JSON.parse(r.stdout) as {
        forwards: { establishedConnections: number | null }[];
        countedAt?: string;
        countedSecondsAgo?: number;
      };
      if (s.countedAt && Date.parse(s.countedAt) < loadedAt)
        throw new Error(`${v.label}'s status answered with a count from before the table was loaded`);
      t.counted.push(s.forwards.reduce((a, f) => a + (f.establishedConnections ?? 0), 0));
      t.ages.push(s.countedSecondsAgo ?? 0);
      t.cli.push(r);
    };
    const text = async (v: (typeof variants)[number], t: Timings) => {
      const r = await timed([...v.porthole, "status"]);
      if (!r.stdout.includes("forwards:")) throw new Error(`${v.label}'s status printed:\n${r.stdout}`);
      t.text.push(r);
    };
    const request = async (path: string) => {
      const c0 = await cpuMs(daemon.pid);
      const r = await world.exec("hub", [
        ...["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}"],
        ...["--unix-socket", sock, `http://hub${path}`],
      ]);
      return { ms: Number(r.stdout.trim()) * 1000, cpu: (await cpuMs(daemon.pid)) - c0 };
    };
    const api = async (_: unknown, t: Timings) => void t.api.push(await request("/v1/status"));
    const summary = async (_: unknown, t: Timings) =>
      void t.summary.push(await request("/v1/status?forwards=summary"));
    const metrics = async (_: unknown, t: Timings) => void t.metrics.push(await request("/metrics"));
    const byMark = async () => {
      const mark = `${hex(established)}/${hex(established | closed)}`;
      row.byMark.push(await timed(["conntrack", "-L", "--mark", mark]));
    };
    const byState = async () => {
      row.byState.push(await timed(["conntrack", "-L", "-p", "tcp", "--state", "ESTABLISHED"]));
    };
    const order = [text, cli, api, summary, metrics];
    for (let rep = 0; rep < reps; rep++) {
      for (const v of rep % 2 ? [...variants].reverse() : variants) {
        await use(v);
        const t = row.of[v.label] as Timings;
        for (const step of rep % 2 ? [...order].reverse() : order) await step(v, t);
      }
      await byMark();
      await byState();
      row.node.push(await timed([process.execPath, "-e", "0"]));
    }
    await use(variants[0] as (typeof variants)[number]);
    row.rss = await rssMiB(daemon.pid, "VmRSS");
    const idle0 = await cpuMs(daemon.pid);
    await new Promise((r) => setTimeout(r, 6000));
    row.idleCpuPerS = ((await cpuMs(daemon.pid)) - idle0) / 6;
    row.rssSteady = await rssMiB(daemon.pid, "VmRSS");
    row.hwm = await rssMiB(daemon.pid, "VmHWM");
    for (const [label, t] of Object.entries(row.of)) {
      console.error(
        `${size} ${label}: status ${cell(t.text)}, --json ${cell(t.cli)}, request ${cell(t.api)}, summary ${cell(t.summary)}, metrics ${cell(t.metrics)}, counted ${t.counted.join("/")} (expected ${size / 4}), RSS ${row.rss} MiB`,
      );
      if (t.counted.some((c) => c !== Math.ceil(size / 4)))
        throw new Error(
          `${label}'s status counted ${t.counted.join("/")} open connections, expected ${Math.ceil(size / 4)}`,
        );
    }
    rows.push(row);
  }
  await world.exec("hub", ["conntrack", "-F"], { allowFail: true });
});

/** A process's CPU time with its reaped children's, in ms (/proc/PID/stat utime stime cutime cstime). */
async function cpuMs(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) * TICK_MS;
}

/** "wall median (min–max); CPU median". */
function cell(xs: Sample[]): string {
  return `${spreadMs(xs.map((x) => x.ms))}; CPU ${fmtMs(median(xs.map((x) => x.cpu)))}`;
}

async function rssMiB(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return Math.round(kb / 1024);
}

const wall = (xs: Sample[]) => median(xs.map((x) => x.ms));
const ratio = (a: Sample[], b: Sample[]) => (wall(a) / wall(b)).toFixed(2);
const perVariant = rows.flatMap((r) =>
  Object.entries(r.of).map(([label, t]) => [
    `${r.size.toLocaleString("en-US")} (${(r.size / 4).toLocaleString("en-US")})${baselineDir ? `, ${label}` : ""}`,
    cell(t.text),
    cell(t.cli),
    cell(t.api),
    cell(t.summary),
    cell(t.metrics),
    `${median(t.ages)} s (max ${Math.max(...t.ages)} s)`,
  ]),
);
const ratios = baselineDir
  ? `
Ratios of the median wall times, this checkout / the baseline (${baselineDir}), same lab, interleaved:

${markdownTable(
  ["conntrack entries", "`porthole status`", "`status --json`", "status request", "its summary", "/metrics"],
  rows.map((r) => {
    const [a, b] = [r.of.this as Timings, r.of.baseline as Timings];
    return [
      r.size.toLocaleString("en-US"),
      ratio(a.text, b.text),
      ratio(a.cli, b.cli),
      ratio(a.api, b.api),
      ratio(a.summary, b.summary),
      ratio(a.metrics, b.metrics),
    ];
  }),
)}
`
  : "";

console.log(`
### \`porthole status\` and the hub daemon's memory as conntrack grows (${N.toLocaleString("en-US")} forwards, nftables)

\`${command}\` — ${reps} reps per size, alternating; wall time median (min–max), then the median CPU time
(user + system, children included; a request: the daemon's, which also runs its 2 s reconcile meanwhile).
${await machineNote()}
Daemon RSS after start-up and ${N.toLocaleString("en-US")} forwards: ${rssStart} MiB.

${markdownTable(
  [
    "conntrack entries (open)",
    "`porthole status` (whole CLI, text)",
    "`porthole status --json` (whole CLI)",
    "status request alone",
    "its summary (what `porthole status` asks)",
    "/metrics (status without probes)",
    "`--json`'s counts: how old (median)",
  ],
  perVariant,
)}
${ratios}
${markdownTable(
  [
    "conntrack entries (open)",
    "`conntrack -L --mark` (kernel filter, porthole)",
    "`conntrack -L --state ESTABLISHED` (before)",
    "`node -e 0` (the floor of a CLI run)",
    "daemon RSS after / 6 s later / peak",
    "daemon CPU idle (reconcile loop)",
  ],
  rows.map((r) => [
    `${r.size.toLocaleString("en-US")} (${(r.size / 4).toLocaleString("en-US")})`,
    cell(r.byMark),
    cell(r.byState),
    cell(r.node),
    `${r.rss} / ${r.rssSteady} / ${r.hwm} MiB`,
    `${Math.round(r.idleCpuPerS)} ms/s`,
  ]),
)}
`);
