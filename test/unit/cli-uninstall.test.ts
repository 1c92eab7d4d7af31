// `porthole uninstall` says what it removed, and only that: porthole makes its config and state
// directories (empty) as it starts, so a second uninstall, or one on a machine porthole never set up,
// said "- directory /var/lib/porthole (applied state, …)" for the empty directory it had just made.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("uninstall");
before(ensureBuilt);

test("uninstall --purge on a hub removes its directories once; run again, it says nothing was there", () => {
  const m = machine("hub");
  const first = m.run(["uninstall", "--purge"]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^- directory ${m.state} \\(applied state`, "m"));
  assert.match(first.stdout, new RegExp(`^- directory ${m.config} \\(private key, spec\\)$`, "m"));
  const again = m.run(["uninstall", "--purge"]);
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /^- /m, "a second uninstall removed nothing of porthole's");
  assert.match(again.stdout, /^nothing of porthole's was on this host$/m);
});

test("uninstall on a machine porthole never set up removes nothing and says so", () => {
  const r = machine("none").run(["uninstall"]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /^- /m);
  assert.match(r.stdout, /^nothing of porthole's was on this host$/m);
});

test("uninstall keeps the key and spec, and says 'it' of one file kept, 'them' of two", () => {
  const hub = machine("hub").run(["uninstall"]);
  assert.match(hub.stdout, /^kept: .*porthole\.yaml, .*private\.key \(--purge removes them too\)$/m);
  const m = machine("none");
  writeFileSync(join(m.config, "private.key"), "x\n", { mode: 0o600 });
  const one = m.run(["uninstall"]);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /^kept: .*private\.key \(--purge removes it too\)$/m);
});
