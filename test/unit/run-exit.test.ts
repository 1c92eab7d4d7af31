// A program ended by a signal is reported as a shell reports it, 128 + the signal's number, by every way
// porthole runs one: `porthole lab exec` passed a Ctrl-C'd command on as 143 (SIGTERM's), and run() and
// runLines() said 128 for any signal.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { exitStatus, run, runAttached, runLines } from "../../src/host/run.ts";

/** A node that ends itself with `sig` (no handler: the default action kills it). */
const killedBy = (sig: string) => [process.execPath, "-e", `process.kill(process.pid, "${sig}")`];

test("exitStatus: the code, or 128 + the signal's number", () => {
  assert.equal(exitStatus(3, null), 3);
  assert.equal(exitStatus(null, "SIGINT"), 130);
  assert.equal(exitStatus(null, "SIGHUP"), 129);
  assert.equal(exitStatus(null, "SIGKILL"), 137);
  assert.equal(exitStatus(null, "SIGTERM"), 143);
});

test("runAttached (lab exec, lab shell): a command ended by SIGINT exits 130, by SIGHUP 129", async () => {
  assert.equal(await runAttached(killedBy("SIGINT")), 130);
  assert.equal(await runAttached(killedBy("SIGHUP")), 129);
  assert.equal(await runAttached([process.execPath, "-e", "process.exit(7)"]), 7);
});

test("run and runLines: a program killed by a signal reports 128 + its number", async () => {
  const r = await run(killedBy("SIGKILL"), { allowFail: true });
  assert.equal(r.code, 137);
  assert.match(r.stderr, /killed by SIGKILL/);
  assert.equal(await runLines(killedBy("SIGINT"), () => {}), 130);
});

test("run: a program past its time limit is said to be ended by porthole, and one ignoring SIGTERM gets SIGKILL", async () => {
  const slow = await run([process.execPath, "-e", "setTimeout(() => {}, 10_000)"], {
    timeoutMs: 200,
    allowFail: true,
  });
  assert.equal(slow.code, 143);
  assert.match(slow.stderr, /\(not done within 0\.2 s: porthole ended it with SIGTERM\)$/);
  // It said "(killed by SIGTERM)", as if something else had; and one that ignores SIGTERM ran on for ever.
  const started = Date.now();
  const stubborn = await run(
    [process.execPath, "-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"],
    { timeoutMs: 200, allowFail: true },
  );
  assert.equal(stubborn.code, 137);
  assert.match(stubborn.stderr, /porthole ended it with SIGKILL\)$/);
  assert.ok(Date.now() - started < 8000);
});

test("runLines: a program that is not installed is 127, and the process is not kept alive for the time limit", () => {
  // spawn's own `timeout` is cleared only on "exit", which a missing program never emits: a hub without
  // conntrack kept `porthole status` (its open-connection count) alive for 60 s after it printed.
  const runTs = new URL("../../src/host/run.ts", import.meta.url).href;
  const script = `import { runLines } from ${JSON.stringify(runTs)};
const code = await runLines(["porthole-no-such-program"], () => {}, 20_000);
console.log(code);`;
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.stdout.trim(), "127", r.stderr);
  assert.ok(Date.now() - started < 10_000, `the process lived ${Date.now() - started} ms`);
});
