// Preloaded into a daemon by bench/daemon-memory.bench.ts (NODE_OPTIONS=--import): on SIGUSR2 it writes
// process.memoryUsage() and V8's heap spaces to $PORTHOLE_MEMORY_PROBE-PID.json, and a heap snapshot to
// $PORTHOLE_MEMORY_PROBE-PID.heapsnapshot when $PORTHOLE_MEMORY_PROBE-PID.want-snapshot exists.
// Bench-only; porthole itself never loads it.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import v8 from "node:v8";

const out = process.env.PORTHOLE_MEMORY_PROBE;
if (out)
  process.on("SIGUSR2", () => {
    const want = `${out}-${process.pid}.want-snapshot`;
    if (existsSync(want)) {
      rmSync(want);
      v8.writeHeapSnapshot(`${out}-${process.pid}.heapsnapshot`);
    }
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
    );
    writeFileSync(`${out}-${process.pid}.json`, JSON.stringify({ mem: process.memoryUsage(), spaces }));
  });
