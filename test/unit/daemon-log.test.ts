// The daemons' log lines: one per event; a timestamp only when journald does not add its own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { daemonLogger, oneLine } from "../../src/cli/daemon-log.ts";

test("a multi-line event becomes one line", () => {
  assert.equal(
    oneLine("repaired drift:\n  - table inet porthole\n  + table inet porthole"),
    "repaired drift: - table inet porthole; + table inet porthole",
  );
  assert.equal(oneLine("a\nb"), "a; b");
  assert.equal(oneLine("  + peer rpi"), "+ peer rpi");
});

test("under journald (JOURNAL_STREAM set) no timestamp; elsewhere an ISO timestamp first", () => {
  const lines: string[] = [];
  daemonLogger({ JOURNAL_STREAM: "8:12345" }, (l) => lines.push(l))("peer rpi is online");
  daemonLogger({}, (l) => lines.push(l))("peer rpi is online");
  assert.equal(lines[0], "peer rpi is online");
  assert.match(lines[1] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z peer rpi is online$/);
});
