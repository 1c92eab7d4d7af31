// `porthole down --keep-files` (the oneshot unit's ExecStop) beside a running daemon: the daemon's next
// reconcile put back within 2 s what the command had just printed as removed ("- interface wg0", exit 0).
// It is refused now, naming the daemon and how to stop it, and changes nothing.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("keepfiles");
before(ensureBuilt);

for (const role of ["hub", "peer"] as const) {
  test(`down --keep-files with the ${role} daemon running: refused (exit 2), nothing changed`, async (t) => {
    const m = machine(role);
    // A process whose command line reads as the daemon's (`… hub run`), as daemon-pid.ts recognizes it.
    const daemon = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", role, "run"], {
      stdio: "ignore",
    });
    t.after(() => daemon.kill("SIGKILL"));
    await new Promise((r) => daemon.once("spawn", r));
    const pidFile = { pid: daemon.pid, startedAt: "2026-12-01T12:00:00.000Z" };
    writeFileSync(join(m.state, `${role}-daemon.pid`), `${JSON.stringify(pidFile)}\n`);
    const before = m.files();
    const r = m.run(["down", "--keep-files"]);
    assert.equal(r.status, 2, r.stderr);
    const who = role === "hub" ? "the hub daemon" : "the peer agent";
    assert.match(r.stderr, new RegExp(`${who} is running \\(pid ${daemon.pid}\\) and would put back`));
    assert.match(r.stderr, new RegExp(`systemctl stop porthole-${role}\\.service`));
    assert.equal(r.stdout, "");
    assert.deepEqual(m.files(), before, "something was changed");
    assert.equal(daemon.exitCode, null, "the daemon was left running");
  });
}

test("down --keep-files with no daemon: runs (nothing of porthole's here, exit 0)", () => {
  const r = machine("none").run(["down", "--keep-files"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^nothing of porthole's is running on this host$/m);
});
