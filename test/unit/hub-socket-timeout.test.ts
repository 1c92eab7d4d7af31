// The CLI on the hub asks its daemon over the root socket (cli/hub-client.ts). A daemon that accepts
// and never answers (stuck) made `porthole status` and `porthole doctor` wait for ever: a read has a
// limit now, said as the daemon not answering (exit 3), and doctor's "is the daemon there" try ends.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT, UserError } from "../../src/cli/errors.ts";
import { callHub, waitForDaemon } from "../../src/cli/hub-client.ts";

test("a daemon that accepts and never answers: a read ends with exit 3 naming it; waitForDaemon says no", {
  timeout: 20_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-stuck-"));
  const held: Socket[] = [];
  const server = createServer((s) => void held.push(s));
  await new Promise<void>((r) => server.listen(join(dir, "api.sock"), r));
  const state = process.env.PORTHOLE_STATE_DIR;
  process.env.PORTHOLE_STATE_DIR = dir;
  t.after(() => {
    process.env.PORTHOLE_STATE_DIR = state;
    for (const s of held) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const err = await callHub("GET", "/v1/status", undefined, { timeoutMs: 300 }).then(
    () => assert.fail("answered"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UserError, String(err));
  assert.equal(err.code, EXIT.host);
  assert.match(
    err.message,
    /^the hub daemon did not answer GET \/v1\/status on its socket .*api\.sock within 0\.3 s: it accepts connections but does not answer/,
  );
  const started = Date.now();
  assert.equal(await waitForDaemon(0), false);
  assert.ok(Date.now() - started < 10_000, "one try, bounded");
});
