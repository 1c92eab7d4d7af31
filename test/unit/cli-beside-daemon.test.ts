// Commands that change the host beside a running hub daemon or peer agent, which keeps the host at its
// own spec: its next reconcile (2 s) put back what they had printed as done. `down --keep-files` (the
// oneshot unit's ExecStop) printed "- interface wg0 …", exit 0; `apply --spec OTHER` (or a
// ./porthole.yaml other than the daemon's) printed "hub: applied 4 changes, verified", and a plain
// `apply` beside a ./porthole.yaml applied the daemon's spec, not that file. Both are refused now (exit 2),
// naming the daemon and what to do instead, and change nothing.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, type TestContext, test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("keepfiles");
before(ensureBuilt);

/** A scratch machine of `role` whose daemon runs: a process whose command line reads as the daemon's. */
async function withDaemon(t: TestContext, role: "hub" | "peer") {
  const m = machine(role);
  // `… hub run`, as daemon-pid.ts recognizes the daemon; its pid file as the daemon writes it.
  const daemon = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", role, "run"], {
    stdio: "ignore",
  });
  t.after(() => daemon.kill("SIGKILL"));
  await new Promise((r) => daemon.once("spawn", r));
  const pidFile = { pid: daemon.pid, startedAt: "2026-12-01T12:00:00.000Z" };
  writeFileSync(join(m.state, `${role}-daemon.pid`), `${JSON.stringify(pidFile)}\n`);
  return { m, daemon };
}

for (const role of ["hub", "peer"] as const) {
  test(`down --keep-files with the ${role} daemon running: refused (exit 2), nothing changed`, async (t) => {
    const { m, daemon } = await withDaemon(t, role);
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

for (const role of ["hub", "peer"] as const) {
  test(`apply --spec OTHER with the ${role} daemon running: refused (exit 2), nothing changed`, async (t) => {
    const { m, daemon } = await withDaemon(t, role);
    const other = join(m.config, "..", "other.yaml");
    writeFileSync(
      other,
      readFileSync(join(m.config, "porthole.yaml"), "utf8").replace("forwards: []", "forwards: [ ]"),
    );
    const before = m.files();
    const r = m.run(["apply", "--spec", other]);
    assert.equal(r.status, 2, r.stderr);
    const who = role === "hub" ? "the hub daemon" : "the peer agent";
    assert.match(
      r.stderr,
      new RegExp(`^porthole: --spec: ${who} \\(pid ${daemon.pid}\\) keeps this host at its own spec`, "m"),
    );
    assert.match(r.stderr, /nothing was changed$/m);
    assert.deepEqual(m.files(), before, "something was changed");
  });
}

test("apply beside a ./porthole.yaml other than the hub daemon's: refused, not the daemon's spec applied", async (t) => {
  const { m } = await withDaemon(t, "hub");
  // The daemon's socket is there, as on a hub it runs.
  writeFileSync(join(m.state, "api.sock"), "");
  writeFileSync(
    join(m.config, "..", "porthole.yaml"),
    readFileSync(join(m.config, "porthole.yaml"), "utf8").replace("forwards: []", "forwards: [ ]"),
  );
  const before = m.files();
  const r = m.run(["apply"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /^porthole: apply: the hub daemon \(pid \d+\) keeps this host at its own spec, .*, and would put back what an apply of porthole\.yaml changes/m,
  );
  assert.deepEqual(m.files(), before, "something was changed");
});

test("apply --dry-run on a hub with a pending join token keeps the token's one-time key in the plan", () => {
  const m = machine("hub");
  const enrollKey = publicKeyOf(generatePrivateKey());
  const token = {
    id: "t1",
    name: "nas",
    admin: false,
    expires: Date.now() + 3_600_000,
    publicKey: enrollKey,
    address: "10.8.0.254",
  };
  writeFileSync(join(m.state, "hub-runtime.json"), JSON.stringify({ tokens: [token] }));
  const before = m.files();
  const r = m.run(["apply", "--dry-run"]);
  assert.equal(r.status, 0, r.stderr);
  // The plan a daemon-run hub applies: its peers and the pending token's key (the daemon's apply has it).
  assert.match(r.stdout, /^\+ peer enroll-t1 10\.8\.0\.254\/32$/m);
  assert.deepEqual(m.files(), before, "a dry run changed something");
});

test("apply --spec beside a hub daemon run on another spec file (its own $PORTHOLE_SPEC): refused, naming that file", async (t) => {
  // The daemon's environment named /srv-like daemon.yaml; this shell has no $PORTHOLE_SPEC, so its idea of
  // "the hub's spec" is the config directory's, a copy of which was taken for the daemon's own.
  const { m, daemon } = await withDaemon(t, "hub");
  const own = join(m.config, "..", "daemon.yaml");
  writeFileSync(
    own,
    readFileSync(join(m.config, "porthole.yaml"), "utf8").replace("forwards: []", "forwards: [ ]"),
  );
  const info = { pid: daemon.pid, startedAt: "2026-12-01T12:00:00.000Z", spec: own };
  writeFileSync(join(m.state, "hub-daemon.pid"), `${JSON.stringify(info)}\n`);
  const before = m.files();
  const r = m.run(["apply", "--spec", join(m.config, "porthole.yaml")]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `^porthole: --spec: the hub daemon \\(pid ${daemon.pid}\\) keeps this host at its own spec, ${own.replace(/[.]/g, "\\.")},`,
      "m",
    ),
  );
  assert.deepEqual(m.files(), before, "something was changed");
});

test("apply on a hub whose pending-token file cannot be read: refused (its tokens' keys would go), a dry run warns", () => {
  const m = machine("hub");
  writeFileSync(join(m.state, "hub-runtime.json"), "{ not json");
  const before = m.files();
  const dry = m.run(["apply", "--dry-run"]);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(
    dry.stderr,
    /^warning: .*hub-runtime\.json \(the pending join tokens\) cannot be read: .*; this plan leaves their one-time keys out$/m,
  );
  const r = m.run(["apply"]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /^porthole: refusing to apply: .*hub-runtime\.json \(the pending join tokens\) cannot be read: .*Nothing was changed$/m,
  );
  assert.deepEqual(m.files(), before, "something was written");
});

test("apply --spec MISSING beside a hub daemon whose own spec file is gone too: the missing file is said, not the daemon", async (t) => {
  const { m } = await withDaemon(t, "hub");
  rmSync(join(m.config, "porthole.yaml"));
  const r = m.run(["apply", "--spec", "missing.yaml"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^porthole: --spec: "missing\.yaml" does not exist/m);
});
