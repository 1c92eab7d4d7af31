// A second daemon of a role is refused naming the running one as the README and doctor name it: the
// hub daemon, the peer agent (it said "the peer daemon").
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { claimDaemon, DaemonRunning, daemonPidFile } from "../../src/host/daemon-pid.ts";

test("the refusal names the running hub daemon or peer agent, with its pid and start", () => {
  const info = { pid: 4242, startedAt: "2026-12-01T10:00:00.000Z" };
  assert.equal(
    new DaemonRunning("hub", info).message,
    "the hub daemon is already running, pid 4242 (since 2026-12-01T10:00:00.000Z)",
  );
  assert.equal(
    new DaemonRunning("peer", info).message,
    "the peer agent is already running, pid 4242 (since 2026-12-01T10:00:00.000Z)",
  );
});

test("the pid file says the spec file the daemon runs on (apply compares with it, not its own shell's)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-pid-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const release = await claimDaemon(dir, "hub", "/srv/porthole/hub.yaml");
  const info = JSON.parse(readFileSync(daemonPidFile(dir, "hub"), "utf8"));
  assert.deepEqual([info.pid, info.spec], [process.pid, "/srv/porthole/hub.yaml"]);
  await release();
});
