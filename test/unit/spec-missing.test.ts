// The command that puts back a removed hub spec, as a person pastes it: it works for any path
// (PORTHOLE_CONFIG_DIR and PORTHOLE_STATE_DIR may hold spaces or quotes), and only on a hub applied here.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { specMissingProblem } from "../../src/hub/spec-missing.ts";

test("the restore command writes the spec back, whatever the paths hold", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-missing-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "etc dir's");
  const state = join(dir, "var $state");
  mkdirSync(conf);
  mkdirSync(state);
  const record = join(state, "applied.json");
  const specText = "version: 1\nhub:\n  endpoint: 203.0.113.1\n";
  const recordText = JSON.stringify({ role: "hub", specText });
  writeFileSync(record, recordText);
  const file = join(conf, "porthole.yaml");
  const problem = specMissingProblem(file, record, recordText);
  const restore = /`(node -e [^`]+)` puts it back/.exec(problem ?? "")?.[1];
  assert.ok(restore, problem ?? "no problem said");
  execFileSync("sh", ["-c", restore]);
  assert.equal(readFileSync(file, "utf8"), specText);
  // A relative state directory (PORTHOLE_STATE_DIR=var), from where the person stands.
  rmSync(file);
  const relative = specMissingProblem("conf/porthole.yaml", "var/applied.json", recordText);
  mkdirSync(join(dir, "conf"));
  mkdirSync(join(dir, "var"));
  writeFileSync(join(dir, "var/applied.json"), recordText);
  execFileSync("sh", ["-c", /`(node -e [^`]+)` puts it back/.exec(relative ?? "")?.[1] ?? "false"], {
    cwd: dir,
  });
  assert.equal(readFileSync(join(dir, "conf/porthole.yaml"), "utf8"), specText);
});

test("not a hub applied here (no record, a peer's, one that does not parse): no problem, hub init is the way", () => {
  assert.equal(
    specMissingProblem("/etc/porthole/porthole.yaml", "/var/lib/porthole/applied.json", null),
    null,
  );
  const peer = JSON.stringify({ role: "peer", specText: "" });
  assert.equal(
    specMissingProblem("/etc/porthole/porthole.yaml", "/var/lib/porthole/applied.json", peer),
    null,
  );
  assert.equal(
    specMissingProblem("/etc/porthole/porthole.yaml", "/var/lib/porthole/applied.json", "{"),
    null,
  );
});
