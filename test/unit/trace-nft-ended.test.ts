// `porthole trace`'s nft process (host/trace.ts) ended by a signal before its table was ready is said as
// a shell says it, 128 + the signal's number: one killed by SIGTERM from elsewhere read "exit 0", and
// any other signal "exit 128". A stand-in `nft` first on PATH ends itself with the signal.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTrace } from "../../src/host/trace.ts";

test("trace: nft ended by SIGTERM or SIGKILL before its table is ready reads exit 143 or 137", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-fake-nft-"));
  const path = process.env.PATH;
  t.after(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });
  process.env.PATH = `${dir}:${path}`;
  for (const [signal, code] of [
    ["TERM", 143],
    ["KILL", 137],
  ] as const) {
    writeFileSync(join(dir, "nft"), `#!/bin/sh\nkill -${signal} $$\n`);
    chmodSync(join(dir, "nft"), 0o755);
    await assert.rejects(
      startTrace(
        (pid) => `porthole_trace_test_${pid}`,
        () => "",
        () => () => {},
        5000,
      ),
      { message: `nft ended: exit ${code}` },
    );
  }
});
