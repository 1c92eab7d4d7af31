// Commands that need the hub daemon, and commands run on the wrong side (issue 9 §2, §4): each says
// what to run instead and writes nothing. Run as a user would, with the built CLI, in scratch
// config/state directories (nothing here may touch the machine: every case must stop before applying).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { publicInterfaceProblem, stopFirst } from "../../src/cli/hub-commands.ts";
import * as peerArgs from "../../src/cli/peer-args.ts";
import { matchForwards, noneMatches } from "../../src/cli/peer-commands.ts";
import { portOrName, portRangeArg } from "../../src/cli/port-args.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { scratchMachines } from "./helpers/scratch-machine.ts";

const unexposeArg = portOrName("PUBLIC-OR-NAME");
const machine = scratchMachines("sides");
before(ensureBuilt);

describe("the hub daemon is not running", () => {
  test("peer add says so, names the command that starts it, prints no token and writes nothing", () => {
    const m = machine("hub");
    const before = m.files();
    const r = m.run(["peer", "add", "rpi"]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(
      r.stderr,
      /^porthole: the hub daemon is not running — start it with `systemctl start porthole-hub` \(or run `porthole hub run` under your own supervisor\); nothing was changed$/m,
    );
    assert.doesNotMatch(r.stdout, /porthole join/);
    assert.deepEqual(m.files(), before);
  });

  // A hub set up with `hub init` (its runtime file) and up (its applied record): a change applied in
  // this process would bring back, outside the unit, what `systemctl stop porthole-hub` took down.
  const upWithoutDaemon = (runtime: boolean) => {
    const m = machine("hub");
    const file = join(m.config, "porthole.yaml");
    const rpi = publicKeyOf(generatePrivateKey());
    writeFileSync(
      file,
      readFileSync(file, "utf8")
        .replace("peers: []", `peers:\n  - { name: rpi, publicKey: "${rpi}" }`)
        .replace("forwards: []", "forwards:\n  - { name: web, port: 80, peer: rpi, targetPort: 8080 }"),
    );
    const record = { host: "hub", role: "hub", specText: "", appliedAt: new Date().toISOString() };
    writeFileSync(
      join(m.state, "applied.json"),
      JSON.stringify({ ...record, wgInterface: "wg0", firewall: { nft: null }, sysctlBefore: {}, files: [] }),
    );
    if (!runtime) rmSync(join(m.state, "hub-runtime.json"));
    return m;
  };

  test("on a hub set up with hub init and up, every change refuses (exit 3), names how to start it and how to apply without it, and writes nothing", () => {
    const m = upWithoutDaemon(true);
    const before = m.files();
    for (const args of [
      ["forward", "add", "--port", "81", "--peer", "rpi", "--target-port", "8080"],
      ["forward", "rm", "web"],
      ["peer", "rm", "rpi"],
      ["peer", "add", "phone", "--device"],
    ]) {
      const r = m.run(args);
      assert.equal(r.status, 3, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(
        r.stderr.trim(),
        "porthole: the hub daemon is not running — start it with `systemctl start porthole-hub` (or run `porthole hub run` under your own supervisor); nothing was changed (this hub was set up with `hub init`: its changes go through its daemon; to apply a spec edited by hand without it: `porthole apply`)",
        args.join(" "),
      );
      assert.equal(r.stdout, "", args.join(" "));
      assert.deepEqual(m.files(), before, args.join(" "));
    }
    // A setting the daemon reads is kept, and said to wait for the daemon.
    const hook = m.run(["hub", "webhook", "http://127.0.0.1:9/hook"]);
    assert.equal(hook.status, 0, hook.stderr);
    assert.match(hook.stdout, /^events will be POSTed to http:\/\/127\.0\.0\.1:9\/hook$/m);
    assert.match(hook.stderr, /^porthole: the hub daemon, which sends them, is not running — start it with/m);
    // Reads still answer in-process.
    assert.equal(m.run(["forward", "ls"]).status, 0);
  });

  test("hub webhook on a hub managed with apply refuses (no daemon would send an event), and writes no runtime file that would make it read as set up with hub init", () => {
    const m = upWithoutDaemon(false);
    const before = m.files();
    for (const args of [
      ["hub", "webhook", "http://127.0.0.1:9/hook"],
      ["hub", "webhook", "--off"],
    ]) {
      const r = m.run(args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^porthole: events are sent by the hub daemon, and this hub runs none: it is managed with `porthole apply`/m,
      );
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(m.files(), before);
    // Still a hub that changes in-process: refused by its API, not for a daemon it never had.
    const rm = m.run(["forward", "rm", "nosuch"]);
    assert.equal(rm.status, 1, rm.stderr);
    // Showing the setting writes nothing either.
    assert.equal(m.run(["hub", "webhook"]).stdout, "no webhook: events are not sent anywhere\n");
    assert.deepEqual(m.files(), before);
  });

  test("a hub managed with apply (no daemon meant to run) still changes in-process", () => {
    const m = upWithoutDaemon(false);
    // Refused by the in-process API itself, not for a missing daemon: nothing reaches the host.
    const r = m.run(["forward", "rm", "nosuch"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no forward named "nosuch"/);
  });
});

describe("a command on the wrong side says what to run instead and writes nothing", () => {
  const cases: { on: "hub" | "peer" | "none"; args: string[]; says: RegExp }[] = [
    {
      on: "peer",
      args: ["peer", "add", "nas"],
      says: /`porthole peer add` runs on the hub, and this machine is a peer: run it there/,
    },
    {
      on: "peer",
      args: ["forward", "add", "--port", "80", "--peer", "rpi"],
      says: /runs on the hub.*the equivalent is `porthole expose PUBLIC --to PORT`/,
    },
    { on: "peer", args: ["forward", "ls"], says: /the equivalent is `porthole exposed`/ },
    {
      on: "peer",
      args: ["trace", "80"],
      says: /^porthole: `porthole trace` runs on the hub, and this machine is a peer: run it there\. Nothing was changed\.$/m,
    },
    { on: "peer", args: ["hub", "init", "--endpoint", "x.example"], says: /run `porthole down` first/ },
    {
      on: "hub",
      args: ["expose", "80", "--to", "8080"],
      says: /`porthole expose` runs on a peer, and this machine is the hub: .*`porthole forward add --port PUBLIC --peer NAME --target-port PORT`/,
    },
    { on: "hub", args: ["unexpose", "80"], says: /`porthole forward rm NAME`/ },
    { on: "hub", args: ["exposed"], says: /the equivalent is `porthole forward ls`/ },
    {
      on: "hub",
      args: ["join", "ph1.x"],
      // Once "here, on the hub, … `porthole peer add NAME` here, then …": "here" said twice.
      says: /; here, on the hub, the equivalent is `porthole peer add NAME`, then `porthole join TOKEN` on the machine that joins\./,
    },
    { on: "hub", args: ["peer", "run"], says: /`porthole hub run` \(the hub daemon\)/ },
    { on: "none", args: ["peer", "add", "rpi"], says: /make it the hub with `porthole hub init/ },
    {
      on: "none",
      args: ["expose", "80", "--to", "8080"],
      says: /has not joined a hub: run `porthole join TOKEN`/,
    },
  ];
  for (const c of cases) {
    test(`porthole ${c.args.join(" ")} on ${c.on === "none" ? "a machine that is neither" : `the ${c.on}`}`, () => {
      const m = machine(c.on);
      const before = m.files();
      const r = m.run(c.args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, c.says);
      if (c.on === "hub") assert.doesNotMatch(r.stderr, /has not joined/);
      assert.deepEqual(m.files(), before, "something was written");
    });
  }
});

test("status on a machine that is neither says both ways in, not only hub init", () => {
  const r = machine("none").run(["status"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /^porthole: this machine is neither a hub nor a peer yet: nothing to show \(`porthole hub init --endpoint NAME` on the VPS, `porthole join TOKEN` on a home machine\)$/m,
  );
});

describe("join reads the token from stdin or a file, so it need not be in the process list", () => {
  test("`join -` reads stdin; `--token-file` reads the file; both or neither is a usage error", () => {
    const m = machine("none");
    const stdin = m.run(["join", "-"], "  not-a-token\n");
    assert.equal(stdin.status, 1, stdin.stderr);
    assert.match(stdin.stderr, /not a porthole join token/);
    const file = join(m.config, "token.txt");
    writeFileSync(file, "still-not-a-token\n");
    const fromFile = m.run(["join", "--token-file", file]);
    assert.equal(fromFile.status, 1, fromFile.stderr);
    assert.match(fromFile.stderr, /not a porthole join token/);
    const none = m.run(["join"]);
    assert.equal(none.status, 2, none.stderr);
    assert.match(
      none.stderr,
      /^porthole: join: no token given; give the one `porthole peer add NAME` printed on the hub: `porthole join -`/m,
    );
    const both = m.run(["join", "x", "--token-file", file]);
    assert.equal(both.status, 2, both.stderr);
    assert.match(
      both.stderr,
      /^porthole: join: give the token one way, not both TOKEN and --token-file: `porthole join -`/m,
    );
    assert.ok(!existsSync(join(m.state, "peer.json")));
  });
});

describe("small things users hit", () => {
  test("`porthole` alone and `porthole help` print the help and exit 0", () => {
    const m = machine("none");
    for (const args of [[], ["help"]]) {
      const r = m.run(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: porthole /m);
    }
  });

  test("`hub webhook` without a URL shows the current one", () => {
    const m = machine("hub");
    assert.equal(m.run(["hub", "webhook"]).stdout.trim(), "no webhook: events are not sent anywhere");
    assert.equal(m.run(["hub", "webhook", "https://example.com/hook"]).status, 0);
    assert.equal(m.run(["hub", "webhook"]).stdout.trim(), "events are POSTed to https://example.com/hook");
  });

  test("unexpose of a port inside a range forward names that forward (a forward is removed whole)", () => {
    const mine = [
      { name: "rpi-tcp-6000-6003", proto: "tcp", port: "6000-6003" },
      { name: "game", proto: "tcp+udp", port: "7000-7001" },
    ];
    const said = (arg: string) => noneMatches(mine, unexposeArg(arg), arg, "rpi");
    assert.deepEqual(matchForwards(mine, unexposeArg("6001")), []);
    assert.equal(
      said("6001"),
      "6001: no forward of rpi's is on exactly that; it is part of rpi-tcp-6000-6003 (tcp/6000-6003), and a forward is removed whole: `porthole unexpose rpi-tcp-6000-6003` (then expose the ports to keep again)",
    );
    assert.match(said("5999-6000"), /it is part of rpi-tcp-6000-6003 \(tcp\/6000-6003\),/);
    assert.match(said("7001:udp"), /it is part of game \(tcp\+udp\/7000-7001\),/);
    assert.equal(
      said("6001:udp"),
      "6001:udp: none of rpi's forwards is on udp/6001; on that port: rpi-tcp-6000-6003 (tcp/6000-6003): `porthole unexpose rpi-tcp-6000-6003`",
    );
    assert.equal(said("8080"), "8080: none of rpi's forwards matches; see `porthole exposed`");
    assert.equal(said("web"), "web: none of rpi's forwards matches; see `porthole exposed`");
  });

  test("unexpose PORT finds a forward on that port whatever its protocol, and lists candidates when several match", () => {
    const mine = [
      { name: "game", proto: "tcp+udp", port: "8089" },
      { name: "dns", proto: "udp", port: "53" },
      { name: "web", proto: "tcp", port: "80" },
      { name: "web-udp", proto: "udp", port: "80" },
    ];
    assert.deepEqual(
      matchForwards(mine, unexposeArg("8089")).map((f) => f.name),
      ["game"],
    );
    assert.deepEqual(
      matchForwards(mine, unexposeArg(" 53 ")).map((f) => f.name),
      ["dns"],
    );
    assert.deepEqual(
      matchForwards(mine, unexposeArg("80")).map((f) => f.name),
      ["web", "web-udp"],
    );
    assert.deepEqual(
      matchForwards(mine, unexposeArg("80:udp")).map((f) => f.name),
      ["web-udp"],
    );
    assert.deepEqual(
      matchForwards(mine, unexposeArg("dns")).map((f) => f.name),
      ["dns"],
    );
  });

  test("unexpose and expose read a port with leading zeros as that port: 0444 is forward tcp/444, not 'part of' it", () => {
    const mine = [{ name: "rpi-tcp-444", proto: "tcp", port: "444" }];
    assert.deepEqual(
      matchForwards(mine, unexposeArg("0444")).map((f) => f.name),
      ["rpi-tcp-444"],
    );
    assert.deepEqual(unexposeArg("06000-06010:udp"), { port: "6000-6010", proto: "udp" });
    const { exposeArgs } = peerArgs;
    assert.deepEqual(exposeArgs("080", { to: " 09000 " }), { port: "80", proto: "tcp", to: "9000" });
    assert.equal(portRangeArg("--target-port", { protoOption: "--proto" })("07000-07001"), "7000-7001");
  });

  test("unexpose: ports before names; a forward named like a port (made before such names were refused) by its name when no forward is on that port", () => {
    const old = { name: "8080", proto: "tcp", port: "9000" };
    const web = { name: "web", proto: "tcp", port: "8080" };
    assert.deepEqual(
      matchForwards([old], unexposeArg("8080")).map((f) => f.name),
      ["8080"],
    );
    assert.deepEqual(
      matchForwards([old, web], unexposeArg("8080")).map((f) => f.name),
      ["web"],
    );
    assert.deepEqual(matchForwards([old], unexposeArg("8080:tcp")), []);
  });
});

describe("a second daemon on the same machine", () => {
  test("the refusal says how to stop the running one, and never `porthole down` (on a peer it leaves the hub)", () => {
    assert.equal(
      stopFirst("peer", 812, true),
      "stop it first: `systemctl stop porthole-peer` (or `kill 812` if porthole-peer.service does not run it)",
    );
    assert.equal(
      stopFirst("hub", 77, false),
      "stop it first: `kill 77` (or through the supervisor that runs it)",
    );
    for (const role of ["hub", "peer"] as const)
      for (const systemd of [true, false]) assert.doesNotMatch(stopFirst(role, 1, systemd), /porthole down/);
  });
});

describe("hub init on a hub that has its spec", () => {
  test("after `porthole down` (spec kept, nothing applied) it points to `porthole apply`, not to an initialized hub", () => {
    const m = machine("hub"); // a spec and a key, no applied record: what `down` leaves
    const before = m.files();
    const r = m.run(["hub", "init", "--endpoint", "203.0.113.1"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /exists already, but nothing of it is applied on this host/);
    assert.match(r.stderr, /`porthole apply` brings this hub back from it/);
    assert.match(r.stderr, /To start over instead: `porthole uninstall --purge`/);
    assert.doesNotMatch(r.stderr, /this hub is initialized/);
    assert.deepEqual(m.files(), before, "nothing changed");
  });
  test("on a hub that is applied it says the hub is initialized", () => {
    const m = machine("hub");
    writeFileSync(join(m.state, "applied.json"), JSON.stringify({ host: "hub", role: "hub" }));
    const r = m.run(["hub", "init", "--endpoint", "203.0.113.1"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /exists already: this hub is initialized \(see porthole status\)/);
  });
  test("run again to set the webhook (or another setting), it names where each changes: the spec's hub section, `hub webhook`", () => {
    const m = machine("hub");
    writeFileSync(join(m.state, "applied.json"), JSON.stringify({ host: "hub", role: "hub" }));
    const before = m.files();
    const r = m.run(["hub", "init", "--endpoint", "203.0.113.1", "--webhook", "http://127.0.0.1:9/hook"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /to change its settings, edit the hub section of \S+porthole\.yaml \(the hub daemon applies an edit within 2 s; a hub without it: `porthole apply`\)/,
    );
    assert.match(r.stderr, /its webhook with `porthole hub webhook URL`$/m);
    assert.deepEqual(m.files(), before);
  });
});

test("hub init with $PORTHOLE_SPEC in a directory that does not exist: refused naming it, nothing written", () => {
  const m = machine("none");
  const before = m.files();
  const spec = join(m.config, "typo", "porthole.yaml");
  const r = m.run(["hub", "init", "--endpoint", "203.0.113.9"], undefined, { PORTHOLE_SPEC: spec });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(
    r.stderr.trim(),
    `porthole: PORTHOLE_SPEC: ${JSON.stringify(spec)}: its directory ${JSON.stringify(join(m.config, "typo"))} does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or unset it (the spec goes to the config directory) or fix the path`,
  );
  assert.deepEqual(m.files(), before);
});

test("hub init on a hub whose spec file was removed refuses (it would drop every peer), names the command that puts it back, and writes nothing", () => {
  const m = machine("hub");
  const file = join(m.config, "porthole.yaml");
  const specText = readFileSync(file, "utf8");
  writeFileSync(join(m.state, "applied.json"), JSON.stringify({ host: "hub", role: "hub", specText }));
  rmSync(file);
  const before = m.files();
  const r = m.run(["hub", "init", "--endpoint", "203.0.113.1"]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /porthole\.yaml is missing \(removed or moved by hand\?\)/);
  assert.match(r.stderr, /`hub init` would start a new hub with none of this one's peers and forwards/);
  assert.deepEqual(m.files(), before, "nothing written: no new spec over the hub's");
  const restore = /`(node -e [^`]+)` puts it back/.exec(r.stderr)?.[1];
  assert.ok(restore, r.stderr);
  execFileSync("sh", ["-c", restore]);
  assert.equal(readFileSync(file, "utf8"), specText);
});

test("apply, validate and render on a hub whose spec file was removed name the command that puts it back, not hub init (which refuses there)", () => {
  const m = machine("hub");
  const file = join(m.config, "porthole.yaml");
  writeFileSync(
    join(m.state, "applied.json"),
    JSON.stringify({ host: "hub", role: "hub", specText: readFileSync(file, "utf8") }),
  );
  rmSync(file);
  const before = m.files();
  for (const args of [["apply", "--dry-run"], ["validate"], ["render", "--host", "hub"]]) {
    const r = m.run(args);
    assert.equal(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /porthole\.yaml is missing \(removed or moved by hand\?\)/, args.join(" "));
    assert.match(r.stderr, /`node -e [^`]+` puts it back/, args.join(" "));
    assert.doesNotMatch(r.stderr, /hub init/, args.join(" "));
  }
  assert.deepEqual(m.files(), before);
  // A machine with no hub applied still hears of hub init.
  const fresh = machine("none").run(["validate"]);
  assert.match(fresh.stderr, /`porthole hub init` writes the hub's/);
});

test("status on a peer whose spec and key stay after uninstall (nothing applied) says so, not 'set up with porthole apply'", () => {
  const m = machine("none");
  const key = generatePrivateKey();
  writeFileSync(join(m.config, "private.key"), `${key}\n`, { mode: 0o600 });
  const spec = [
    "version: 1",
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(generatePrivateKey())}`,
    "peers:",
    `  - { name: rpi, publicKey: "${publicKeyOf(key)}", address: 10.8.0.2 }`,
    "forwards: []",
    "",
  ].join("\n");
  writeFileSync(join(m.config, "porthole.yaml"), spec);
  const left = m.run(["status"]);
  assert.equal(left.status, 0, left.stderr);
  assert.match(
    left.stdout,
    /^peer rpi \(10\.8\.0\.2, wg0 DOWN; nothing of it applied here, as after `porthole down` or `uninstall`, which keep the spec and key: `porthole apply` brings it back\)$/m,
  );
  assert.doesNotMatch(left.stdout, /set up with porthole apply/);
  const record = { host: "rpi", role: "peer", specText: spec, appliedAt: new Date().toISOString() };
  writeFileSync(join(m.state, "applied.json"), JSON.stringify(record));
  assert.match(
    m.run(["status"]).stdout,
    /^peer rpi \(10\.8\.0\.2, wg0 DOWN; set up with porthole apply, not joined\)$/m,
  );
});

describe("hub init --public-interface", () => {
  const addr = (iface: string, address: string, scope = "global") => ({
    iface,
    family: 4 as const,
    address,
    prefixlen: 24,
    scope,
    dynamic: false,
  });
  const here = [addr("lo", "127.0.0.1", "host"), addr("ens3", "203.0.113.1"), addr("docker0", "172.17.0.1")];
  test("an interface of this host with a public address is accepted", () => {
    assert.equal(publicInterfaceProblem("ens3", here), null);
  });
  test("a name that is not here is refused, naming the interfaces that are", () => {
    assert.equal(
      publicInterfaceProblem("eth0", here),
      '--public-interface: "eth0" is not an interface of this host; interfaces with an address here: ens3, docker0 (or "auto": any but the tunnel)',
    );
  });
  test("refused as a bad option (exit 2), before anything is written", () => {
    const m = machine("none");
    const before = m.files();
    const r = m.run(["hub", "init", "--endpoint", "203.0.113.9", "--public-interface", "nosuch0"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--public-interface: "nosuch0" is not an interface of this host/);
    assert.deepEqual(m.files(), before);
  });
  test("an interface with no global address (loopback) is refused", () => {
    assert.match(publicInterfaceProblem("lo", here) ?? "", /"lo" has no public \(global\) address/);
  });
});

test("hub init: a --subnet (or the default one) that holds --endpoint is refused naming both, before the key or spec is written", () => {
  for (const [args, why] of [
    [
      ["--endpoint", "203.0.113.9", "--subnet", "203.0.113.0/24"],
      '--subnet: "203.0.113.0/24" holds --endpoint 203.0.113.9, which the peers would route into the tunnel; use a prefix outside it, like 10.8.0.0/24',
    ],
    [
      ["--endpoint", "10.8.0.7"],
      '--subnet: "10.8.0.0/24" holds --endpoint 10.8.0.7, which the peers would route into the tunnel; use a prefix outside it, like 10.9.0.0/24',
    ],
  ] as const) {
    const m = machine("none");
    const before = m.files();
    const r = m.run(["hub", "init", ...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), `porthole: ${why}`);
    assert.deepEqual(m.files(), before);
  }
});

describe("hub init: a --snat-pool that does not go with --subnet or --endpoint", () => {
  // A bad option is a usage error (exit 2), whether it is bad alone or beside another option.
  test("--snat-pool bad alone: exit 2, as beside --subnet", () => {
    const r = machine("none").run([
      "hub",
      "init",
      "--endpoint",
      "203.0.113.9",
      "--snat-pool",
      "240.0.0.0/25",
    ]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /--snat-pool: "?240\.0\.0\.0\/25"? is out of range; accepted: a prefix \/4 to \/24/,
    );
  });
  for (const [args, why] of [
    [
      ["--subnet", "240.0.0.0/24"],
      '--snat-pool: "240.0.0.0/8" overlaps --subnet 240.0.0.0/24; use a prefix outside the tunnel\'s, like 240.0.0.0/8',
    ],
    [
      ["--snat-pool", "203.0.113.0/24"],
      '--snat-pool: "203.0.113.0/24" holds --endpoint 203.0.113.9, which the peers would route into the tunnel; use a prefix outside it, like 240.0.0.0/8',
    ],
  ] as const) {
    test(`${args.join(" ")}: refused naming the options, before the key or spec is written`, () => {
      const m = machine("none");
      const before = m.files();
      const r = m.run(["hub", "init", "--endpoint", "203.0.113.9", ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim(), `porthole: ${why}`);
      assert.deepEqual(m.files(), before);
    });
  }
});

describe("a change on a hub that is down (nothing applied here, as after porthole down)", () => {
  test("forward add and rm change the spec, apply nothing (no tunnel or rules come back), say so, exit 0", () => {
    const m = machine("hub");
    const file = join(m.config, "porthole.yaml");
    const rpi = publicKeyOf(generatePrivateKey());
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("peers: []", `peers:\n  - { name: rpi, publicKey: "${rpi}" }`),
    );
    const down =
      /^porthole: the hub is down on this machine \(nothing of it is applied, as after `porthole down`\): the change is in its spec and takes effect when the hub is brought back: `porthole apply`, then/m;
    const add = m.run(["forward", "add", "--port", "80", "--peer", "rpi", "--target-port", "8080"]);
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stderr, down);
    assert.match(readFileSync(file, "utf8"), /^ {4}port: "?80"?$/m);
    assert.ok(!existsSync(join(m.state, "applied.json")), "nothing applied");
    const rm = m.run(["forward", "rm", "rpi-tcp-80"]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.match(rm.stderr, down);
    assert.doesNotMatch(readFileSync(file, "utf8"), /^ {4}port: "?80"?$/m);
    assert.ok(!existsSync(join(m.state, "applied.json")), "nothing applied");
  });
});
