// Benchmark: what counting open connections costs as the conntrack table grows (issue 13 §3). In a
// namespace of its own, the bench loads 1k, 10k and 100k entries with `conntrack -R` (DNAT'd to a
// peer; a quarter ESTABLISHED, the rest TIME_WAIT, as after a burst of short connections, each with the
// marks the hub's forward chain would have set: OPEN_MARK) and times, side by side, porthole's count
// (`conntrack -L --mark`, filtered in the kernel), the count status made before (`conntrack -L -p tcp
// --state ESTABLISHED`, filtered in user space) and the full `conntrack -L` read whole (before that).
// The whole CLI and the daemon at 10,000 forwards: status-load.bench.ts.
//
//   node --import tsx bench/status-conntrack.bench.ts [--reps 3]
//
// Needs root and conntrack. Removes its namespace at the end, also on failure.
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../src/host/run.ts";
import { OPEN_MARK } from "../src/plan/plan.ts";

const reps = Number(process.argv[process.argv.indexOf("--reps") + 1] || 3) || 3;
const ns = `phct${process.pid.toString(36)}`;
const file = join(tmpdir(), `${ns}.conntrack`);

function entries(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = `198.18.${(i >> 8) & 255}.${i & 255}`;
    const sp = 1024 + (i % 60000);
    const open = i % 4 === 0;
    const mark = open ? OPEN_MARK.established : OPEN_MARK.established | OPEN_MARK.closed;
    out.push(
      `-I -t 3000 -u SEEN_REPLY,ASSURED -s ${a} -d 192.0.2.1 -r 10.8.0.2 -q ${a} -p tcp --sport ${sp} --dport 80 --reply-port-src 8080 --reply-port-dst ${sp} --state ${open ? "ESTABLISHED" : "TIME_WAIT"} --mark 0x${mark.toString(16)}`,
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
    await run(["ip", "netns", "exec", ns, "conntrack", "-R", file], { allowFail: true, timeoutMs: 900_000 });
    const samples: Record<string, number>[] = [];
    for (let r = 0; r < reps; r++) {
      const out = await run([
        ...["ip", "netns", "exec", ns, process.execPath, "--import", "tsx"],
        join(import.meta.dirname, "support/count-open.ts"),
      ]);
      samples.push(JSON.parse(out.stdout) as Record<string, number>);
    }
    const m = (k: string) => median(samples.map((s) => s[k] as number));
    if (m("open") !== n / 4 || m("byState") !== n / 4)
      throw new Error(`counted ${m("open")} (by mark) and ${m("byState")} (by state), expected ${n / 4}`);
    rows.push(
      `| ${n} | ${m("open")} | ${m("countMs")} ms | ${m("countRssMiB")} MiB | ${m("stateMs")} ms | ${m("fullMs")} ms | ${m("fullRssMiB")} MiB | ${(m("countMs") / m("stateMs")).toFixed(2)} |`,
    );
  }
  const load = (await run(["cat", "/proc/loadavg"])).stdout.trim();
  console.log(`conntrack entries vs. counting cost (median of ${reps}; load ${load})\n`);
  console.log(
    "| entries | open | porthole count (by mark) | its RSS growth | by state (before) | full `conntrack -L` | its RSS growth | mark / state |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await run(["ip", "netns", "del", ns], { allowFail: true });
  await run(["rm", "-f", file], { allowFail: true });
}
