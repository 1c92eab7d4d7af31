// Benchmark: what parsing `conntrack -L` lines costs the hub's status (issue 13 §3): 25,000 lines (the
// open connections of bench:status's 100,000-entry table) counted by forward key, with the parser
// status uses (host/stats.ts openConnectionKey: indexOf) and the one it used before (split on spaces
// into a record of arrays, kept here), alternating, in one process. No root, no lab.
//
//   node --import tsx bench/conntrack-parse.bench.ts [--lines 25000] [--rounds 6]
import { openConnectionKey } from "../src/host/stats.ts";
import { cliArgs, median } from "./lab-bench.ts";

const args = cliArgs();
const n = args.number("--lines", 25_000, 1, 1_000_000);
const rounds = args.number("--rounds", 6, 2, 100);

/** The parser before: every word split, the fields gathered in arrays. */
function splitKey(line: string): string | null {
  const proto = line.slice(0, 3);
  if (proto !== "tcp" && proto !== "udp") return null;
  const seen: Record<string, string[]> = { src: [], dst: [], sport: [], dport: [] };
  for (const w of line.split(" ")) {
    const eq = w.indexOf("=");
    if (eq > 0) seen[w.slice(0, eq)]?.push(w.slice(eq + 1));
  }
  const [origDst, replySrc] = [seen.dst?.[0], seen.src?.[1]];
  const [origDport, replySport] = [seen.dport?.[0], seen.sport?.[1]];
  if (!replySrc || !origDport || !replySport || replySrc === origDst) return null;
  return `${proto}/${origDport}/${replySrc}/${replySport}`;
}

const lines = Array.from({ length: n }, (_, i) => {
  const port = 10_000 + (i % 10_000);
  const sport = 1024 + Math.floor(i / 10_000);
  return `tcp      6 2999 ESTABLISHED src=198.18.${(i >> 8) & 255}.${i & 255} dst=203.0.113.1 sport=${sport} dport=${port} src=10.8.0.2 dst=10.8.0.1 sport=${port} dport=${sport} [ASSURED] mark=512 use=1`;
});
for (const l of lines)
  if (splitKey(l) !== openConnectionKey(l)) throw new Error(`the parsers differ on ${l}`);

const count = (key: (l: string) => string | null) => {
  const t0 = performance.now();
  const m = new Map<string, number>();
  for (const l of lines) {
    const k = key(l);
    if (k) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return performance.now() - t0;
};
const ms = { indexOf: [] as number[], split: [] as number[] };
for (let r = 0; r < rounds; r++)
  for (const which of r % 2 ? (["split", "indexOf"] as const) : (["indexOf", "split"] as const))
    ms[which].push(count(which === "split" ? splitKey : openConnectionKey));
const [a, b] = [median(ms.indexOf), median(ms.split)];
console.log(
  `${n} conntrack lines, ${rounds} rounds alternating, median: indexOf (status now) ${a.toFixed(1)} ms, split (before) ${b.toFixed(1)} ms; ratio ${(a / b).toFixed(2)}`,
);
