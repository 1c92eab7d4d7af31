// Inside a network namespace: time porthole's count of open connections (openConnections: conntrack lists
// the entries carrying OPEN_MARK, filtered in the kernel) beside the count status made before (`conntrack
// -L -p tcp --state ESTABLISHED`, filtered in user space, lines counted as they stream) and a full
// `conntrack -L` read into memory (before that); report the RSS each leaves behind.

import { run, runLines } from "../../src/host/run.ts";
import { openConnections } from "../../src/host/stats.ts";

const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const base = rssMiB();
let t = performance.now();
const counts = await openConnections([4], ["tcp"]);
const countMs = performance.now() - t;
const countRss = rssMiB();
t = performance.now();
let byState = 0;
await runLines(["conntrack", "-L", "-p", "tcp", "--state", "ESTABLISHED"], (l) => {
  if (l.startsWith("tcp")) byState++;
});
const stateMs = performance.now() - t;
t = performance.now();
const full = await run(["conntrack", "-L"], { allowFail: true });
const lines = full.stdout.split("\n").length;
const fullMs = performance.now() - t;
console.log(
  JSON.stringify({
    open: [...(counts?.values() ?? [])].reduce((a, b) => a + b, 0),
    byState,
    countMs: Math.round(countMs),
    countRssMiB: countRss - base,
    stateMs: Math.round(stateMs),
    fullLines: lines,
    fullMs: Math.round(fullMs),
    fullRssMiB: rssMiB() - base,
  }),
);
