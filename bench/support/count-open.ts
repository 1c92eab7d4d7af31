// Inside a network namespace: time porthole's count of open connections (openConnections) beside a full
// `conntrack -L` read into memory (what status did before), and report the RSS each leaves behind.

import { run } from "../../src/host/run.ts";
import { openConnections } from "../../src/host/stats.ts";

const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const base = rssMiB();
let t = performance.now();
const counts = await openConnections([4], ["tcp"]);
const countMs = performance.now() - t;
const countRss = rssMiB();
t = performance.now();
const full = await run(["conntrack", "-L"], { allowFail: true });
const lines = full.stdout.split("\n").length;
const fullMs = performance.now() - t;
console.log(
  JSON.stringify({
    open: [...(counts?.values() ?? [])].reduce((a, b) => a + b, 0),
    countMs: Math.round(countMs),
    countRssMiB: countRss - base,
    fullLines: lines,
    fullMs: Math.round(fullMs),
    fullRssMiB: rssMiB() - base,
  }),
);
