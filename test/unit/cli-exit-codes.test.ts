// The exit-code contract (src/cli/errors.ts, the README, `porthole --help`) holds for every command,
// on each side: 1 the input or the spec is invalid, or the hub refused; 2 a usage error; 3 the machine
// could not do it — here, the hub's daemon did not answer, whichever command needed it. Run as a user
// would, with the built CLI, in scratch config/state directories; nothing changes in any case.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { type MachineKind, scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("exit");
before(ensureBuilt);

// [machine, command line, exit code, what stderr says]
type Case = [kind: MachineKind, args: string[], code: number, says: RegExp];

// The peer's hub (127.0.0.1:9 in its peer.json) never answers; the hub's daemon is not running.
const DAEMON_DOWN: Case[] = [
  ["hub", ["peer", "add", "nas"], 3, /the hub daemon is not running — start it with `systemctl start/],
  ["peer", ["expose", "80", "--to", "8080"], 3, /the hub did not answer through the tunnel/],
  ["peer", ["unexpose", "web"], 3, /the hub did not answer through the tunnel/],
  ["peer", ["unexpose", "80"], 3, /the hub did not answer through the tunnel/],
  ["peer", ["exposed"], 3, /the hub did not answer through the tunnel/],
  ["peer", ["status"], 3, /the hub did not answer through the tunnel/],
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
];

describe("exit codes: the same contract for every command", () => {
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
