// Benchmark: what counting open connections costs as the conntrack table grows (issue 13 §3). In a
// namespace of its own, the bench loads 1k, 10k and 100k entries with `conntrack -R` (DNAT'd to a
// peer; a quarter ESTABLISHED, the rest TIME_WAIT, as after a burst of short connections) and times,
// side by side, porthole's count (`conntrack -L -p tcp --state ESTABLISHED`, lines counted as they
// stream) and the full `conntrack -L` read whole (what status did before).
//
//   node --import tsx bench/status-conntrack.bench.ts [--reps 3]
//
// Needs root and conntrack. Removes its namespace at the end, also on failure.
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../src/host/run.ts";

const reps = Number(process.argv[process.argv.indexOf("--reps") + 1] || 3) || 3;
const ns = `phct${process.pid.toString(36)}`;
const file = join(tmpdir(), `${ns}.conntrack`);

function entries(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = `198.18.${(i >> 8) & 255}.${i & 255}`;
    const sp = 1024 + (i % 60000);
    const state = i % 4 === 0 ? "ESTABLISHED" : "TIME_WAIT";
    out.push(
      `-I -t 3000 -u SEEN_REPLY,ASSURED -s ${a} -d 192.0.2.1 -r 10.8.0.2 -q ${a} -p tcp --sport ${sp} --dport 80 --reply-port-src 8080 --reply-port-dst ${sp} --state ${state}`,
    );
  }
  return `${out.join("\n")}\n`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

await run(["ip", "netns", "add", ns]);
try {
  const rows: string[] = [];
  for (const n of [1000, 10_000, 100_000]) {
    await run(["ip", "netns", "exec", ns, "conntrack", "-F"], { allowFail: true });
    await writeFile(file, entries(n));
    await run(["ip", "netns", "exec", ns, "conntrack", "-R", file], { allowFail: true });
    const samples: Record<string, number>[] = [];
    for (let r = 0; r < reps; r++) {
      const out = await run([
        ...["ip", "netns", "exec", ns, process.execPath, "--import", "tsx"],
        join(import.meta.dirname, "support/count-open.ts"),
      ]);
      samples.push(JSON.parse(out.stdout) as Record<string, number>);
    }
    const m = (k: string) => median(samples.map((s) => s[k] as number));
    rows.push(
      `| ${n} | ${m("open")} | ${m("countMs")} ms | ${m("countRssMiB")} MiB | ${m("fullMs")} ms | ${m("fullRssMiB")} MiB | ${(m("countMs") / m("fullMs")).toFixed(2)} |`,
    );
  }
  const load = (await run(["cat", "/proc/loadavg"])).stdout.trim();
  console.log(`conntrack entries vs. counting cost (median of ${reps}; load ${load})\n`);
  console.log(
    "| entries | established | porthole count | its RSS growth | full `conntrack -L` | its RSS growth | ratio |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await run(["ip", "netns", "del", ns], { allowFail: true });
  await run(["rm", "-f", file], { allowFail: true });
}
