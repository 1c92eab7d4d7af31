// The exit-code contract (src/cli/errors.ts, the README, `porthole --help`) holds for every command,
// on each side: 1 the input or the spec is invalid, or the hub refused; 2 a usage error; 3 the machine
// could not do it — here, the hub's daemon did not answer, whichever command needed it. Run as a user
// would, with the built CLI, in scratch config/state directories; nothing changes in any case.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { HUB_PORT, type MachineKind, scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("exit");
before(ensureBuilt);

// [machine, command line, exit code, what stderr says]
type Case = [kind: MachineKind, args: string[], code: number, says: RegExp];

// The peer's hub (127.0.0.1:9 in its peer.json) refuses: nothing listens there, as when the hub daemon
// is stopped (fetch refused port 9 itself, a "bad port", which read as silence); the hub's daemon is not running.
const REFUSED_HUB =
  /the hub answered through the tunnel, but its API is not listening: the hub daemon is not running/;
const DAEMON_DOWN: Case[] = [
  ["hub", ["peer", "add", "nas"], 3, /the hub daemon is not running — start it with `systemctl start/],
  ["peer", ["expose", "80", "--to", "8080"], 3, REFUSED_HUB],
  ["peer", ["unexpose", "web"], 3, REFUSED_HUB],
  ["peer", ["unexpose", "80"], 3, REFUSED_HUB],
  ["peer", ["exposed"], 3, REFUSED_HUB],
  ["peer", ["status"], 3, REFUSED_HUB],
];

const REFUSED: Case[] = [
  // The hub's API, run in-process without its daemon, refuses: exit 1.
  ["hub", ["forward", "add", "--port", "80", "--peer", "nas"], 1, /"nas" is not a peer in this spec/],
  ["hub", ["forward", "rm", "web"], 1, /no forward named "web"/],
  ["hub", ["peer", "rm", "nas"], 1, /no peer or pending join token named "nas"/],
];

const USAGE: Case[] = [
  ["peer", ["expose", "80"], 2, /^porthole: required option '--to <port>' not specified$/m],
  ["peer", ["expose", "80", "--to", "0"], 2, /^porthole: --to: "0" is out of range/m],
  ["hub", ["expose", "80", "--to", "8080"], 2, /runs on a peer, and this machine is the hub/],
  ["hub", ["apply", "--spec", "missing.yaml"], 2, /^porthole: --spec: "missing.yaml" does not exist/m],
  ["none", ["frobnicate"], 2, /^porthole: unknown command 'frobnicate'$/m],
  // The wrong machine for the command: neither side set up, as each side's commands say on the other.
  ["none", ["status"], 2, /^porthole: this machine is neither a hub nor a peer yet: nothing to show/m],
  ["none", ["status", "--json"], 2, /^porthole: this machine is neither a hub nor a peer yet/m],
  ["none", ["doctor"], 2, /^porthole: this machine is neither a hub nor a peer yet: nothing to check/m],
  // A hub whose runtime file is there but nothing of it applied (as after `porthole down`).
  ["hub", ["doctor"], 2, /^porthole: nothing of the hub is applied on this machine/m],
  // Nothing to work on: no state saved, no apply --confirm waiting.
  ["none", ["apply", "--from-state"], 2, /^porthole: --from-state: nothing saved in \S+ yet/m],
  ["none", ["confirm"], 2, /^porthole: nothing to confirm: no apply --confirm is waiting$/m],
];

describe("exit codes: the same contract for every command", () => {
  test("a peer set up with apply (no peer.json): a joined peer's commands are the wrong machine → 2; its record unreadable → 1", () => {
    const m = machine("none");
    const record = { host: "rpi", role: "peer", specText: "", appliedAt: new Date().toISOString() };
    writeFileSync(
      join(m.state, "applied.json"),
      JSON.stringify({ ...record, wgInterface: "wg0", firewall: { nft: null }, sysctlBefore: {}, files: [] }),
    );
    const before = m.files();
    for (const args of [["expose", "80", "--to", "8080"], ["exposed"], ["unexpose", "80"]]) {
      const r = m.run(args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^porthole: this machine has not joined a hub: run `porthole join TOKEN`/m);
    }
    // Something is there, and it is broken: an invalid spec, not the wrong machine.
    const doctor = m.run(["doctor"]);
    assert.equal(doctor.status, 1, doctor.stderr);
    assert.match(doctor.stderr, /^porthole: the applied spec in \S+applied\.json does not load/m);
    assert.deepEqual(m.files(), before, "something was written");
  });

  for (const [kind, args, code, says] of [...DAEMON_DOWN, ...REFUSED, ...USAGE]) {
    test(`${kind}: porthole ${args.join(" ")} → ${code}`, () => {
      const m = machine(kind);
      const before = m.files();
      const r = m.run(args);
      assert.equal(r.status, code, r.stderr);
      assert.match(r.stderr, says);
      assert.deepEqual(m.files(), before, "something was written");
    });
  }
});

test("peer: porthole status with the hub not answering still says what this machine sees, then exit 3", () => {
  const r = machine("peer").run(["status"]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(
    r.stdout,
    /^peer rpi \(\?, wg0 DOWN; joined to hub http:\/\/127\.0\.0\.1:9, no status from it: what this machine sees\)$/m,
  );
  assert.match(
    r.stdout,
    /^hub: not reached: its API did not answer \(why: below\)\n {2}WireGuard: wg0 is down: its handshakes cannot be read$/m,
  );
  assert.match(r.stderr, REFUSED_HUB);
  const json = machine("peer").run(["status", "--json"]);
  assert.equal(json.status, 3);
  assert.equal(json.stdout, "", "--json prints the hub's status or nothing");
});

// 5xx: the hub (or its daemon) answered that it could not do it — an apply that failed — exit 3, with its
// words. A small server stands in for it, on a unix socket: a peer's hub (reached at 127.0.0.1:HUB_PORT
// in the scratch machine's namespace), or the daemon's socket on the hub; it answers every request 500
// and records what was asked.
describe("exit 3: the hub or its daemon answered 5xx", () => {
  const FAILED = "the apply failed: nft: exit 1 (the host was put back as it was)";
  const failing = () => {
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: FAILED }));
    });
    return { server, asked };
  };

  test("a peer's commands: the hub's API answers 500 → 3", async (t) => {
    const { server, asked } = failing();
    const dir = mkdtempSync(join(tmpdir(), "porthole-exit-hub-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const hubSocket = join(dir, "hub.sock");
    server.listen(hubSocket);
    await once(server, "listening");
    t.after(() => server.close());
    const m = scratchMachines("exit-5xx", hubSocket)("peer");
    writeFileSync(
      join(m.state, "peer.json"),
      JSON.stringify({ name: "rpi", api: `http://127.0.0.1:${HUB_PORT}` }),
    );
    for (const args of [["exposed"], ["expose", "80", "--to", "8080"], ["unexpose", "web"]]) {
      const r = await m.runAsync(args);
      assert.equal(r.status, 3, `porthole ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^porthole: ${FAILED.replace(/[()]/g, "\\$&")}`, "m"));
    }
    assert.ok(asked.length >= 3, `the hub was asked: ${asked.join(", ")}`);
  });

  test("the hub's commands: the daemon's socket answers 500 → 3", async (t) => {
    const m = machine("hub");
    const { server, asked } = failing();
    const before = m.files();
    server.listen(join(m.state, "api.sock"));
    await once(server, "listening");
    t.after(() => server.listening && server.close());
    for (const args of [
      ["peer", "add", "nas"],
      ["forward", "rm", "web"],
      ["peer", "ls"],
    ]) {
      const r = await m.runAsync(args);
      assert.equal(r.status, 3, `porthole ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^porthole: ${FAILED.replace(/[()]/g, "\\$&")}`, "m"));
    }
    assert.ok(asked.length >= 3, `the daemon was asked: ${asked.join(", ")}`);
    server.close(); // removes the socket: the machine's files are compared without it
    await once(server, "close");
    assert.deepEqual(
      m.files(),
      before.filter((f) => !f.startsWith("api.sock")),
    );
  });
});

test("peer: with the hub not answering and its spec copy unreadable, status says the hub's error, not the copy's", () => {
  const m = machine("peer");
  // A directory where the copy should be: reading it fails (EISDIR), as an EACCES would for a user.
  rmSync(join(m.config, "porthole.yaml"));
  mkdirSync(join(m.config, "porthole.yaml"));
  const r = m.run(["status"]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, REFUSED_HUB);
});
