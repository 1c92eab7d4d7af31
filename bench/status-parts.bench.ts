// Benchmark: what the hub's status costs at 10,000 forwards without its probes, part by part (issue 13
// §3), with no lab: a namespace of its own holding porthole's table as compiled for N forwards (loaded
// with `nft -f`, as apply does), and the status computed in-process over the real host in it
// (bench/support/status-parts.ts): the whole status, the nft listings of the counting map and sets, the
// same listings as text (the alternative), the foreign-firewall observation, and the JSON. The whole
// CLI and daemon on a lab, with the probes and a loaded conntrack table: status-load.bench.ts.
//
//   node --import tsx bench/status-parts.bench.ts [--forwards 10000] [--reps 5]
//
// Needs root and nft. Removes its namespace and files at the end, also on failure.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../src/compile/compile.ts";
import { renderNft } from "../src/compile/nft-text.ts";
import { run } from "../src/host/run.ts";
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

console.log(`
### The hub's status without probes, part by part (${N.toLocaleString("en-US")} forwards, nftables, in-process)

\`node --import tsx bench/status-parts.bench.ts ${process.argv.slice(2).join(" ")}\` — ${reps} reps, alternating order;
medians. CPU: the process's user + system time with its children's (nft, conntrack). The reply is
${(result.bytes / 1e6).toFixed(1)} MB of JSON.
${await machineNote()}

${markdownTable(
  ["part", "wall", "CPU"],
  Object.entries(result.out).map(([name, s]) => [name, fmtMs(median(s.ms)), fmtMs(median(s.cpu))]),
)}
`);
