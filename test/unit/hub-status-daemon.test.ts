// The daemon's line of `porthole status` on the hub: running, starting, not running where it should,
// not used on a hub managed with apply, and, after `porthole down` or `uninstall` (the spec and key
// stay, nothing is applied), said as such rather than "managed with apply", which it never was.
import assert from "node:assert/strict";
import { test } from "node:test";
import { daemonLine } from "../../src/cli/hub-status.ts";

test("the daemon's line: running, starting, stopped, not used, and a hub taken down", () => {
  const up = { running: true, listening: true, pid: 7, uptimeSeconds: 30 };
  assert.equal(daemonLine(up, true, true), "daemon: running (pid 7, up 30 seconds)");
  // Its uptime in status's words, the noun in the right number (it said "up 1 seconds").
  assert.equal(daemonLine({ ...up, uptimeSeconds: 1 }, true, true), "daemon: running (pid 7, up 1 second)");
  assert.equal(
    daemonLine({ ...up, uptimeSeconds: 300 }, true, true),
    "daemon: running (pid 7, up 5 minutes)",
  );
  assert.equal(
    daemonLine({ ...up, uptimeSeconds: 3 * 3600 }, true, true),
    "daemon: running (pid 7, up 3 hours)",
  );
  assert.match(daemonLine({ ...up, listening: false }, true, true), /^daemon: starting \(pid 7\)/);
  const down = { running: false };
  assert.match(
    daemonLine(down, true, true),
    /^daemon: NOT running — start it with `systemctl start porthole-hub`/,
  );
  assert.equal(daemonLine(down, false, true), "daemon: not used (this hub is managed with `porthole apply`)");
  const gone = daemonLine(down, false, false);
  assert.match(
    gone,
    /^daemon: not running, and nothing of this hub is applied here \(as after `porthole down` or `uninstall`/,
  );
  assert.doesNotMatch(gone, /managed with|start the daemon/);
  // A hub set up with hub init, then taken down: `down` removed its unit, so not "systemctl start" it.
  const goneManaged = daemonLine(down, true, false);
  assert.match(
    goneManaged,
    /nothing of this hub is applied here .*`porthole apply` brings it back, then start the daemon$/,
  );
  assert.doesNotMatch(goneManaged, /systemctl start/);
});
