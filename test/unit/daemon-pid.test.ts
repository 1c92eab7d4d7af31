// A second daemon of a role is refused naming the running one as the README and doctor name it: the
// hub daemon, the peer agent (it said "the peer daemon").
import assert from "node:assert/strict";
import { test } from "node:test";
import { DaemonRunning } from "../../src/host/daemon-pid.ts";

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
