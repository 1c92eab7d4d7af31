// When does a service answer again? For bench/roaming.bench.ts, run inside the client's namespace.
// Starts a new HTTP GET (its own TCP connection) every INTERVAL ms, each with a TIMEOUT, so the first
// SYN sent after the path works is at most INTERVAL late; a lost SYN costs only its own attempt (its
// 1 s retransmit does not delay the measurement, as it does for one poll at a time).
//   node service-probe.mjs URL USER:PASS [INTERVAL_MS=50] [TIMEOUT_MS=5000]
// Prints "ready" after the first 200. Then each line read on stdin is an epoch time T in ms (the
// moment the path changed); once an attempt started at or after T has answered 200, prints one JSON
// line {t, firstOkEnd, firstOkStart} (epoch ms) and waits for the next T. Exits on stdin end.
import { request } from "node:http";
import { createInterface } from "node:readline";

const [url, auth, intervalArg, timeoutArg] = process.argv.slice(2);
if (!url || !auth) {
  console.error("usage: service-probe.mjs URL USER:PASS [INTERVAL_MS] [TIMEOUT_MS]");
  process.exit(2);
}
const intervalMs = Number(intervalArg ?? 50);
const timeoutMs = Number(timeoutArg ?? 5000);

let ready = false;
/** The open question: T, and the first 200 among attempts started at or after it. */
let pending = null;
/** Recent 200s, [start, end]: T may arrive after the answers it asks about (it is sent afterwards). */
const recent = [];

function answered(start, end) {
  if (!pending || start < pending.t || (pending.firstOkEnd !== null && end >= pending.firstOkEnd)) return;
  pending.firstOkEnd = end;
  pending.firstOkStart = start;
  // Attempts still in flight that started earlier may answer a moment later, but not sooner than
  // this one (their SYN went out before); report once the next tick has passed.
  const p = pending;
  setTimeout(() => {
    if (pending !== p) return;
    console.log(JSON.stringify(p));
    pending = null;
  }, intervalMs);
}

function attempt() {
  const start = Date.now();
  const req = request(url, { auth, agent: false, timeout: timeoutMs }, (res) => {
    res.resume();
    res.on("end", () => {
      if (res.statusCode !== 200) return;
      const end = Date.now();
      if (!ready) {
        ready = true;
        console.log("ready");
      }
      recent.push([start, end]);
      if (recent.length > 1000) recent.shift();
      answered(start, end);
    });
  });
  req.on("timeout", () => req.destroy());
  req.on("error", () => {});
  req.end();
}

const timer = setInterval(attempt, intervalMs);
attempt();
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const t = Number(line.trim());
    if (!Number.isFinite(t) || t <= 0) return;
    pending = { t, firstOkEnd: null, firstOkStart: null };
    for (const [start, end] of recent) answered(start, end);
  })
  .on("close", () => {
    clearInterval(timer);
    process.exit(0);
  });
