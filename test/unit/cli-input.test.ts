// Every command's arguments are checked as the spec checks the same field: a bad value is a usage error
// (exit 2) naming the argument, the value and what is accepted, in the spec's own words, and nothing
// changes. Run as a user would, with the built CLI, in scratch config/state directories; every case
// stops while its command line is parsed (a peer's hub at 127.0.0.1:9 is never asked).
import assert from "node:assert/strict";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { z } from "zod";
import { valid } from "../../src/cli/arg.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import {
  AllowFromField,
  EndpointField,
  InterfaceField,
  NameField,
  PortField,
  PortRangeField,
  PublicInterfaceField,
  SubnetField,
} from "../../src/spec/fields.ts";
import { FirewallShape, ModeShape, ProtoShape } from "../../src/spec/schema.ts";
import { validate } from "../../src/spec/validate.ts";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { type MachineKind, scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("input");
before(ensureBuilt);

const NAME_RULE = "use 1-32 lowercase letters, digits or '-', not starting or ending with '-'";
const RANGE = "expected a port 1-65535 or a range like 6000-6010";

// [machine, command line, the message after "porthole: "]
type Case = [kind: "hub" | "peer" | "none", args: string[], says: string];
const CASES: Case[] = [
  // the peer's commands
  ["peer", ["unexpose", "99999"], `PUBLIC-OR-NAME: "99999" is out of range; ${RANGE}`],
  [
    "peer",
    ["unexpose", "80:icmp"],
    'PUBLIC-OR-NAME: protocol "icmp" is not accepted; use one of: tcp, udp, tcp+udp',
  ],
  [
    "peer",
    ["unexpose", "9000-8000"],
    `PUBLIC-OR-NAME: "9000-8000" is a reversed range; write it low-high, e.g. 8000-9000`,
  ],
  [
    "peer",
    ["unexpose", "Web!"],
    `PUBLIC-OR-NAME: "Web!" is not a valid name; ${NAME_RULE}; or give a public port, e.g. 80 or 53:udp`,
  ],
  ["peer", ["expose", "99999", "--to", "80"], `PUBLIC: "99999" is out of range; ${RANGE}`],
  [
    "peer",
    ["expose", "80:sctp", "--to", "80"],
    'PUBLIC: protocol "sctp" is not accepted; use one of: tcp, udp, tcp+udp',
  ],
  ["peer", ["expose", "80", "--to", "0"], `--to: "0" is out of range; ${RANGE}`],
  ["peer", ["expose", "80", "--to", "http"], `--to: "http" is not ${RANGE.replace("expected ", "")}`],
  [
    "peer",
    ["expose", "80", "--to", "80", "--allow", "192.0.2.0/24", "10.0.0.1/8"],
    '--allow: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
  ],
  [
    "peer",
    ["expose", "80", "--to", "80", "--allow", "::1"],
    "--allow: \"::1\" is loopback (inside ::1/128): no client's packets come from it, so it admits nobody; list the clients' public addresses",
  ],
  [
    "peer",
    ["expose", "80", "--to", "80", "--allow", "anywhere"],
    '--allow: "anywhere" is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32',
  ],
  [
    "peer",
    ["expose", "80", "--to", "80", "--name", "Web Site"],
    `--name: "Web Site" is not a valid name; ${NAME_RULE}`,
  ],
  [
    "peer",
    ["expose", "80", "--to", "80", "--name", "8080"],
    '--name: "8080" reads as a port (`porthole unexpose 8080` means public port 8080); give a name with a letter, e.g. web-8080',
  ],
  ["peer", ["peer", "run", "--interval", "10"], '--interval: "10" is out of range; accepted: 100-60000'],
  [
    "peer",
    ["peer", "run", "--stale-after", "5m"],
    '--stale-after: "5m" is not accepted; expected a whole number 5-3600',
  ],
  ["none", ["join", "--token-file", ""], '--token-file: "" is not accepted; expected a file path'],
  [
    "none",
    ["join", "--token-file", "token.txt"],
    '--token-file: "token.txt" does not exist; give the file the token was saved in, or paste the token into `porthole join -`',
  ],
  [
    "none",
    ["join", "--token-file", "etc"],
    '--token-file: "etc" is a directory, not a file; give the file the token was saved in, or paste the token into `porthole join -`',
  ],
  // commander's own checks name the argument as the help shows it
  ["peer", ["expose", "--to", "80"], "missing required argument 'PUBLIC'\n(run with --help for usage)"],
  ["peer", ["unexpose"], "missing required argument 'PUBLIC-OR-NAME'\n(run with --help for usage)"],
  // extra arguments are named, with what the command takes
  [
    "peer",
    ["expose", "80", "81", "--to", "80"],
    'too many arguments for `porthole expose`: "81"; it takes <PUBLIC>',
  ],
  [
    "peer",
    ["unexpose", "80", "web"],
    'too many arguments for `porthole unexpose`: "web"; it takes <PUBLIC-OR-NAME>',
  ],
  [
    "hub",
    ["forward", "ls", "web"],
    'too many arguments for `porthole forward ls`: "web"; it takes no arguments',
  ],
  ["none", ["join", "ph1.x", "ph1.y"], 'too many arguments for `porthole join`: "ph1.y"; it takes [TOKEN]'],
  // the hub's commands
  [
    "hub",
    ["forward", "add", "--port", "99999", "--peer", "rpi"],
    `--port: "99999" is out of range; ${RANGE}`,
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "Bad_Peer"],
    `--peer: "Bad_Peer" is not a valid name; ${NAME_RULE}`,
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--target-port", "9000-8000"],
    '--target-port: "9000-8000" is a reversed range; write it low-high, e.g. 8000-9000',
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--proto", "icmp"],
    '--proto: "icmp" is not accepted; use one of: tcp, udp, tcp+udp',
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--mode", "nat"],
    '--mode: "nat" is not accepted; use one of: snat, transparent',
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--allow", "10.0.0.300"],
    '--allow: "10.0.0.300" is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32',
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--name", "6000-6010"],
    '--name: "6000-6010" reads as a port (`porthole unexpose 6000-6010` means public port 6000-6010); give a name with a letter, e.g. web-6000-6010',
  ],
  ["hub", ["forward", "rm", "Web Site"], `NAME: "Web Site" is not a valid name; ${NAME_RULE}`],
  ["hub", ["peer", "add", "My_Phone"], `NAME: "My_Phone" is not a valid name; ${NAME_RULE}`],
  [
    "hub",
    ["peer", "add", "phone", "--expires", "10s"],
    '--expires: "10s" is not accepted; expected 60 to 604800 seconds (1m to 7d)',
  ],
  [
    "hub",
    ["peer", "add", "phone", "--expires", "30d"],
    '--expires: "30d" is not accepted; expected 60 to 604800 seconds (1m to 7d)',
  ],
  [
    "hub",
    ["peer", "add", "phone", "--expires", "soon"],
    '--expires: "soon" is not accepted; use a duration like 30m, 1h or 2d (s, m, h, d)',
  ],
  ["hub", ["peer", "rm", "../etc"], `NAME: "../etc" is not a valid name; ${NAME_RULE}`],
  ["hub", ["hub", "run", "--interval", "0"], '--interval: "0" is out of range; accepted: 100-60000'],
  [
    "hub",
    ["hub", "webhook", "ftp://example.com"],
    'URL: "ftp://example.com" is not accepted; give an http:// or https:// URL',
  ],
  ["hub", ["trace", "70000"], 'PORT: "70000" is out of range; accepted: 1-65535'],
  ["hub", ["trace", "80:icmp"], 'PORT: protocol "icmp" is not accepted; use one of: tcp, udp, tcp+udp'],
  ["hub", ["trace", "80", "--count", "0"], '--count: "0" is out of range; accepted: 1-1000000'],
  [
    "hub",
    ["trace", "80", "--seconds", "1h"],
    '--seconds: "1h" is not accepted; expected a whole number 1-86400',
  ],
  ["hub", ["apply", "--confirm", "1"], '--confirm: "1" is out of range; accepted: 5-3600'],
  ["hub", ["apply", "--host", "My Hub"], `--host: "My Hub" is not a valid name; ${NAME_RULE}`],
  ["hub", ["render", "--host", "Pi!"], `--host: "Pi!" is not a valid name; ${NAME_RULE}`],
  ["hub", ["validate", "--spec", ""], '--spec: "" is not accepted; expected a file path'],
  [
    "hub",
    ["validate", "--spec", "missing.yaml"],
    '--spec: "missing.yaml" does not exist; give the path of a porthole spec',
  ],
  [
    "hub",
    ["apply", "--spec", "var"],
    '--spec: "var" is a directory, not a file; give the path of a porthole spec',
  ],
  [
    "hub",
    ["render", "--host", "hub", "--spec", "missing.yaml"],
    '--spec: "missing.yaml" does not exist; give the path of a porthole spec',
  ],
  [
    "hub",
    ["render", "--host", "hub", "--spec", "etc/porthole.yaml", "--out", "wg0.conf"],
    '--out: "wg0.conf/wg0.conf" is not under a directory: a part of the path is a file; give a directory this user may write to',
  ],
  // --out names a directory: made when its parent exists, as mkdir would; a missing parent is refused.
  [
    "hub",
    ["render", "--host", "hub", "--spec", "etc/porthole.yaml", "--out", "nosuch/out"],
    '--out: "nosuch/out": its directory "nosuch" does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or give a directory under one that exists',
  ],
  // a directory that cannot be made where mkdir says ENOENT (Node's recursive mkdir spun forever)
  [
    "hub",
    ["render", "--host", "hub", "--spec", "etc/porthole.yaml", "--out", "/proc/porthole-x"],
    '--out: "/proc/porthole-x" cannot be made: this file system allows no new directory there; give a directory this user may write to',
  ],
  ["hub", ["status", "--spec", ""], '--spec: "" is not accepted; expected a file path'],
  [
    "hub",
    ["status", "--spec", "missing.yaml"],
    '--spec: "missing.yaml" does not exist; give the path of a porthole spec',
  ],
  // a machine about to become a hub, and the tools
  [
    "none",
    ["hub", "init", "--endpoint", "vps example.com"],
    '--endpoint: "vps example.com" is not a host name or IP address (with an optional :port)',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com:99999"],
    '--endpoint: "vps.example.com:99999" has port 99999, which is out of range; accepted: 1-65535',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--listen-port", "0"],
    '--listen-port: "0" is out of range; accepted: 1-65535',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--subnet", "10.8.0.1/24"],
    '--subnet: "10.8.0.1/24" has host bits set; did you mean 10.8.0.0/24?',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--subnet", "224.0.0.0/24"],
    '--subnet: "224.0.0.0/24" overlaps 224.0.0.0/4 (not a unicast range a peer routes); use a private prefix like 10.8.0.0/24',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--subnet", "fd00:8::/64"],
    '--subnet: "fd00:8::/64" is not IPv4; put IPv6 in hub.subnet6',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--firewall", "pf"],
    '--firewall: "pf" is not accepted; use one of: nftables, iptables',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--public-interface", "eth 0"],
    '--public-interface: "eth 0" is not an interface name; use "auto" or a name like ens3',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--webhook", "example.com/hook"],
    '--webhook: "example.com/hook" is not accepted; give an http:// or https:// URL',
  ],
  [
    "hub",
    ["hub", "webhook", "off"],
    'URL: "off" is not accepted; give an http:// or https:// URL, or stop sending events with `porthole hub webhook --off`',
  ],
  [
    "none",
    ["hub", "init", "--endpoint", "vps.example.com", "--name", "hub\nforwards: []"],
    `--name: "hub\\nforwards: []" is not a valid name; ${NAME_RULE}`,
  ],
  [
    "none",
    ["import", "wg-quick", "wg0.conf", "--interface", "a-very-long-tunnel"],
    "--interface: \"a-very-long-tunnel\" is not an interface name; use 1-15 letters, digits, '_', '.', '-'",
  ],
  [
    "none",
    ["import", "wg-quick", "wg0.conf", "--endpoint", "-"],
    '--endpoint: "-" is not a host name or IP address (with an optional :port)',
  ],
  ["none", ["keygen", "--write", ""], '--write: "" is not accepted; expected a file path'],
  [
    "none",
    ["keygen", "--write", "wg0.conf"],
    '--write: "wg0.conf" exists already; porthole never overwrites a key: give a new path',
  ],
  [
    "none",
    ["keygen", "--write", "wg0.conf/private.key"],
    '--write: "wg0.conf/private.key" is not under a directory: a part of the path is a file; give a path this user may write to',
  ],
  // A directory that is not there is refused, not made: a typo would put the key where nobody looks.
  [
    "none",
    ["keygen", "--write", "etc/sub/private.key"],
    '--write: "etc/sub/private.key": its directory "etc/sub" does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or give a path in a directory that exists',
  ],
  [
    "none",
    ["keygen", "--write", "/proc/porthole-x/private.key"],
    '--write: "/proc/porthole-x/private.key": its directory "/proc/porthole-x" does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or give a path in a directory that exists',
  ],
  [
    "none",
    ["keygen", "--write", "/sys/porthole-x/keys/private.key"],
    '--write: "/sys/porthole-x/keys/private.key": its directory "/sys/porthole-x/keys" does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or give a path in a directory that exists',
  ],
  [
    "none",
    ["import", "wg-quick", "wg1.conf"],
    'FILE: "wg1.conf" does not exist; give a wg-quick config, e.g. /etc/wireguard/wg0.conf',
  ],
  [
    "none",
    ["lab", "down", "--name", "../../etc/x"],
    "--name: \"../../etc/x\" is not a lab name; use 1-16 lowercase letters, digits or '-', starting with a letter or digit",
  ],
  [
    "none",
    ["lab", "up", "--backend", "pf"],
    '--backend: "pf" is not accepted; use one of: nftables, iptables',
  ],
  ["none", ["lab", "up", "--mode", "nat"], '--mode: "nat" is not accepted; use one of: snat, transparent'],
  [
    "hub",
    ["forward", "add", "--port", "53:udp", "--peer", "rpi"],
    '--port: "53:udp": give the port alone and the protocol with --proto: --port 53 --proto udp',
  ],
  [
    "peer",
    ["expose", "53", "--to", "5353:udp"],
    '--to: "5353:udp": give the port alone; the protocol goes after the public port: `porthole expose 53:udp --to 5353`',
  ],
  // The command to run instead names the public port given, not an example's.
  [
    "peer",
    ["expose", "8000:tcp", "--to", "9000:udp"],
    '--to: "9000:udp": give the port alone; the protocol goes after the public port: `porthole expose 8000:udp --to 9000`',
  ],
  // Bad beside another option: a target range of another span than the public one (exit 2, as hub
  // init's --snat-pool beside --subnet), checked before the hub is asked.
  [
    "peer",
    ["expose", "80", "--to", "8080-8081"],
    '--to: "8080-8081" spans 2 ports but port 80 spans 1; ranges map 1:1, so give one of equal length',
  ],
  [
    "hub",
    ["forward", "add", "--port", "80", "--peer", "rpi", "--target-port", "8080-8081"],
    '--target-port: "8080-8081" spans 2 ports but port 80 spans 1; ranges map 1:1, so give one of equal length',
  ],
  [
    "none",
    ["lab", "exec", "router", "--", "true"],
    'HOST: "router" is not accepted; use one of: client, hub, home, peer',
  ],
];

describe("a bad argument: exit 2, the argument, the value and what is accepted; nothing changes", () => {
  for (const [kind, args, says] of CASES) {
    test(`${kind}: porthole ${args.map((a) => JSON.stringify(a)).join(" ")}`, () => {
      const m = machine(kind);
      const before = m.files();
      const r = m.run(args);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, `porthole: ${says}\n`);
      assert.equal(r.stdout, "");
      assert.deepEqual(m.files(), before);
    });
  }
});

test("unexpose 99999 is refused as a port before the hub is asked, not answered with 'no forward matches'", () => {
  const m = machine("peer");
  const r = m.run(["unexpose", "99999"]);
  assert.equal(r.status, 2);
  assert.doesNotMatch(r.stderr, /matches|hub/);
  assert.match(r.stderr, /^porthole: PUBLIC-OR-NAME: "99999" is out of range; expected a port 1-65535/);
});

test("a good value passes: unexpose asks the hub (here unreachable: exit 3), keygen --write writes its key", () => {
  const m = machine("peer");
  const r = m.run(["unexpose", "8080-web"]);
  assert.equal(r.status, 3, r.stderr);
  const k = machine("none");
  assert.equal(k.run(["keygen", "--write", "key"]).status, 0);
});

test("keygen --write into porthole's own config directory makes it when missing, 0700", () => {
  const m = machine("none");
  rmSync(m.config, { recursive: true });
  const r = m.run(["keygen", "--write", join(m.config, "private.key")]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(m.config).mode & 0o777, 0o700);
  assert.equal(statSync(join(m.config, "private.key")).mode & 0o777, 0o600);
});

// Every command's arguments, as commander names them when one is missing, read as its help shows them.
const NEED_ARGUMENT: [MachineKind, string[]][] = [
  ["peer", ["expose", "--to", "80"]],
  ["peer", ["unexpose"]],
  ["hub", ["forward", "rm"]],
  ["hub", ["peer", "add"]],
  ["hub", ["peer", "rm"]],
  ["hub", ["trace"]],
  ["none", ["import", "wg-quick"]],
  ["none", ["lab", "exec"]],
];

test("a missing argument is named as the command's help names it (PUBLIC, not 'public')", () => {
  for (const [kind, args] of NEED_ARGUMENT) {
    const m = machine(kind);
    const r = m.run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    const name = /^porthole: missing required argument '([^']+)'$/m.exec(r.stderr)?.[1];
    assert.ok(name, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(name, name.toUpperCase(), `${args.join(" ")} names ${name}`);
    const help = m.run([...args.filter((a) => !a.startsWith("-") && a !== "80"), "--help"]).stdout;
    assert.match(help, new RegExp(`^Usage: porthole .*<${name}(\\.\\.\\.)?>`, "m"), help);
    assert.match(help, new RegExp(`^  ${name}\\b`, "m"), help);
  }
});

// The words of a refusal are the spec's: the same value in a spec gives the same text after its path.
const HUB = { endpoint: "203.0.113.1", publicKey: publicKeyOf(generatePrivateKey()) };
const PEER = { name: "rpi", publicKey: publicKeyOf(generatePrivateKey()) };
const FORWARD = { name: "web", port: 8080, peer: "rpi" };
type Parity = [field: string, schema: z.ZodType<unknown>, value: unknown, spec: (v: unknown) => object];
const hubWith = (k: string) => (v: unknown) => ({ hub: { ...HUB, [k]: v } });
const forwardWith = (k: string) => (v: unknown) => ({
  hub: HUB,
  peers: [PEER],
  forwards: [{ ...FORWARD, [k]: v }],
});
const PARITY: Parity[] = [
  ["hub.name", NameField, "Hub!", hubWith("name")],
  ["hub.endpoint", EndpointField, "a b", hubWith("endpoint")],
  ["hub.endpoint", EndpointField, "vps.example.com:0", hubWith("endpoint")],
  ["hub.listenPort", PortField, 70000, hubWith("listenPort")],
  ["hub.subnet", SubnetField, "10.8.0.1/24", hubWith("subnet")],
  ["hub.subnet", SubnetField, "10.8.0.0/31", hubWith("subnet")],
  ["hub.subnet", SubnetField, "10.8.0.0", hubWith("subnet")],
  ["hub.interface", InterfaceField, "wg 0", hubWith("interface")],
  ["hub.publicInterface", PublicInterfaceField, "eth/0", hubWith("publicInterface")],
  ["hub.firewall", FirewallShape, "pf", hubWith("firewall")],
  ["forwards[0].name", NameField, "Web Site", forwardWith("name")],
  ["forwards[0].port", PortRangeField, "99999", forwardWith("port")],
  ["forwards[0].port", PortRangeField, 99999, forwardWith("port")],
  ["forwards[0].port", PortRangeField, "90-80", forwardWith("port")],
  ["forwards[0].targetPort", PortRangeField, "x", forwardWith("targetPort")],
  ["forwards[0].proto", ProtoShape, "icmp", forwardWith("proto")],
  ["forwards[0].mode", ModeShape, "nat", forwardWith("mode")],
  ["forwards[0].allowFrom[0]", AllowFromField, "10.0.0.1/8", (v) => forwardWith("allowFrom")([v])],
  ["forwards[0].allowFrom[0]", AllowFromField, "nope", (v) => forwardWith("allowFrom")([v])],
];

test("each field's schema refuses a value in the words the spec's own check uses for that field", () => {
  for (const [path, schema, value, spec] of PARITY) {
    const r = validate(spec(value));
    assert.equal(r.ok, false, path);
    const problem = r.ok
      ? undefined
      : r.problems.find((p) => p.path.join(".") === path.replace(/\[(\d+)\]/g, ".$1"));
    assert.ok(problem, `${path}: no problem reported for ${JSON.stringify(value)}`);
    assert.throws(
      () => valid("FIELD", schema)(value as string),
      (e: Error) => e.message === `FIELD: ${problem.message}`,
      `${path} ${JSON.stringify(value)}: the spec says ${problem.message}`,
    );
  }
});
