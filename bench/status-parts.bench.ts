// Benchmark: what the hub's status costs at 10,000 forwards without its probes, part by part (issue 13
// §3), with no lab: a namespace of its own holding porthole's table as compiled for N forwards (loaded
// with `nft -f`, as apply does), and the status computed in-process over the real host in it
// (bench/support/status-parts.ts): the whole status, the nft listings of the counting map and sets, the
// same listings as text (the alternative), the foreign-firewall observation, and the JSON. The whole
// CLI and daemon on a lab, with the probes and a loaded conntrack table: status-load.bench.ts.
//
// With --conntrack N the namespace's conntrack table holds N entries first (DNAT'd to the forwards'
// ports, a quarter open with the mark the forward chain sets, as in status-load.bench.ts), and the
// open-connection count (listing, and listing + parsing) is timed beside the rest.
//
//   node --import tsx bench/status-parts.bench.ts [--forwards 10000] [--reps 5] [--conntrack 100000]
//
// Needs root and nft. Removes its namespace and files at the end, also on failure.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../src/compile/compile.ts";
import { renderNft } from "../src/compile/nft-text.ts";
import { run } from "../src/host/run.ts";
import { OPEN_MARK } from "../src/plan/plan.ts";
import { loadSpec } from "../src/spec/load.ts";
import {
  cliArgs,
  fmtMs,
  forwardRange,
  labBenchSpec,
  machineNote,
  markdownTable,
  median,
  TSX,
} from "./lab-bench.ts";

const args = cliArgs();
const N = args.number("--forwards", 10_000, 1, 40_000);
const reps = args.number("--reps", 5, 1, 50);
const tracked = process.argv.includes("--conntrack") ? args.number("--conntrack", 0, 4, 200_000) : 0;
const ns = `stsp${process.pid.toString(36)}`;
const dir = await mkdtemp(join(tmpdir(), `${ns}-`));

const key = async () => {
  const priv = (await run(["wg", "genkey"])).stdout;
  return (await run(["wg", "pubkey"], { input: priv })).stdout.trim();
};
const text = labBenchSpec(await key(), await key(), "nftables", forwardRange(10_000, N));
const loaded = loadSpec(text, "bench.yaml");
if (!loaded.ok) throw new Error(loaded.report);
const nft = compile(loaded.spec, "hub").firewall.nft;
if (!nft) throw new Error("the hub's plan has no nft table");
await writeFile(join(dir, "porthole.yaml"), text);
await writeFile(join(dir, "porthole.nft"), renderNft(nft));

await run(["ip", "netns", "add", ns]);
let result: { forwards: number; bytes: number; out: Record<string, { ms: number[]; cpu: number[] }> };
try {
  await run(["ip", "netns", "exec", ns, "nft", "-f", join(dir, "porthole.nft")], { timeoutMs: 300_000 });
  if (tracked) {
    await writeFile(join(dir, "conntrack"), conntrackEntries(tracked));
    await run(["ip", "netns", "exec", ns, "conntrack", "-R", join(dir, "conntrack")], {
      allowFail: true,
      timeoutMs: 900_000,
    });
  }
  const r = await run(
    [
      ...["ip", "netns", "exec", ns, ...TSX],
      join(import.meta.dirname, "support/status-parts.ts"),
      ...[join(dir, "porthole.yaml"), dir, String(reps)],
    ],
    { timeoutMs: 900_000 },
  );
  result = JSON.parse(r.stdout);
} finally {
  await run(["ip", "netns", "del", ns], { allowFail: true });
  await rm(dir, { recursive: true, force: true });
}
if (result.forwards !== N) throw new Error(`the status has ${result.forwards} forwards, expected ${N}`);

/** `conntrack -R` lines: n DNAT'd connections to the forwards' ports, one in four open (see the top). */
function conntrackEntries(n: number): string {
  const { established, closed } = OPEN_MARK;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const port = 10_000 + (i % N);
    const sport = 1024 + (Math.floor(i / N) % 60_000);
    const open = i % 4 === 0;
    const mark = open ? established : established | closed;
    out.push(
      `-I -t 3000 -u SEEN_REPLY,ASSURED -s 198.18.${(i >> 8) & 255}.${i & 255} -d 203.0.113.1 -r 10.8.0.2 -q 10.8.0.1 -p tcp --sport ${sport} --dport ${port} --reply-port-src ${port} --reply-port-dst ${sport} --state ${open ? "ESTABLISHED" : "TIME_WAIT"} --mark 0x${mark.toString(16)}`,
    );
  }
  return `${out.join("\n")}\n`;
}

console.log(`
### The hub's status without probes, part by part (${N.toLocaleString("en-US")} forwards, nftables, in-process${tracked ? `, ${tracked.toLocaleString("en-US")} conntrack entries` : ""})

\`node --import tsx bench/status-parts.bench.ts ${process.argv.slice(2).join(" ")}\` — ${reps} reps, alternating order;
medians. CPU: the process's user + system time with its children's (nft, conntrack). The reply is
${(result.bytes / 1e6).toFixed(1)} MB of JSON.
${await machineNote()}

${markdownTable(
  ["part", "wall", "CPU"],
  Object.entries(result.out).map(([name, s]) => [name, fmtMs(median(s.ms)), fmtMs(median(s.cpu))]),
)}
`);
