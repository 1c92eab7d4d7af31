// What `porthole forward add` says of the hub's probe of the new forward's target: accepted on stdout;
// anything else a warning on stderr (the command does not fail), in status's words.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkFromHub, forwardCheck, probedPort } from "../../src/cli/forward-check.ts";
import type { ConnectResult } from "../../src/host/types.ts";
import type { ForwardView } from "../../src/protocol/responses.ts";
import type { PeerStatus } from "../../src/protocol/status.ts";

const fwd = (over: Partial<ForwardView> = {}): ForwardView => ({
  name: "rpi-tcp-81",
  proto: "tcp",
  port: "81",
  peer: "rpi",
  targetPort: "8080",
  mode: "snat",
  allowFrom: [],
  ...over,
});

const rpi: PeerStatus = {
  name: "rpi",
  address: "10.8.0.2",
  online: true,
  handshakeAgeSeconds: 20,
  receivedSecondsAgo: 3,
  keepalive: 25,
  endpoint: "198.51.100.2:51820",
  rxBytes: 1000,
  txBytes: 1000,
  admin: false,
  kind: "agent",
};

const ended = (outcome: ConnectResult["outcome"], error: string | null = null): ConnectResult => ({
  outcome,
  error,
});

test("the probed port: the first of a range; none for udp alone", () => {
  assert.equal(probedPort(fwd({ targetPort: "9000-9010" })), 9000);
  assert.equal(probedPort(fwd({ proto: "tcp+udp" })), 8080);
  assert.equal(probedPort(fwd({ proto: "udp" })), null);
});

test("accepted: a line on stdout, no warning", () => {
  assert.deepEqual(forwardCheck(fwd(), rpi, ended("accepted")), {
    out: ["  checked from the hub: 10.8.0.2:8080 accepts connections from the hub"],
    warnings: [],
  });
});

test("refused, timed out, unreachable: a warning naming the target and what the hub found, never ok", () => {
  const refused = forwardCheck(fwd(), rpi, ended("refused", "ECONNREFUSED"));
  assert.deepEqual(refused.out, []);
  assert.deepEqual(refused.warnings, [
    "warning: nothing accepted a connection on rpi:8080 from the hub: 10.8.0.2:8080 refused the hub's connection: rpi is reached; nothing accepts on 10.8.0.2:8080 (or a firewall there rejects it)",
    "  the forward is in place on the hub; it works once something accepts on rpi:8080 (`porthole status` probes it again)",
  ]);
  const timeout = forwardCheck(fwd(), rpi, ended("timeout"));
  assert.match(
    timeout.warnings[0] ?? "",
    /^warning: nothing accepted a connection on rpi:8080 from the hub: 10\.8\.0\.2:8080 did not answer the hub's connection \(timed out\): rpi sent packets 3 seconds ago, so the tunnel carries them and a firewall on rpi \(or past it\) dropping tcp\/8080 is likelier$/,
  );
  // A listener alone would not mend a drop or a broken tunnel: not said as the fix.
  assert.equal(
    timeout.warnings[1],
    "  the forward is in place on the hub; it works once the hub's connection to rpi:8080 gets through (`porthole status` probes it again)",
  );
  const offline = forwardCheck(fwd(), { ...rpi, online: false, handshakeAgeSeconds: 900 }, ended("timeout"));
  assert.match(
    offline.warnings[0] ?? "",
    /rpi is offline \(last handshake 15 minutes ago\): the tunnel is down/,
  );
  const unreachable = forwardCheck(fwd(), rpi, ended("unreachable", "EHOSTUNREACH"));
  assert.match(
    unreachable.warnings[0] ?? "",
    /^warning: nothing accepted .*was unreachable from the hub \(EHOSTUNREACH/,
  );
});

test("not checked: the probe failed on the hub, udp only, the hub's interface down, the peer not listed", () => {
  assert.deepEqual(forwardCheck(fwd(), rpi, ended("error", "EMFILE")).warnings, [
    "not checked: the hub's probe of 10.8.0.2:8080 failed on the hub itself (EMFILE): it says nothing about the target",
  ]);
  assert.deepEqual(forwardCheck(fwd({ proto: "udp", targetPort: "53" }), rpi, null).warnings, [
    "not checked whether anything answers on rpi:53: UDP is not probed",
  ]);
  assert.deepEqual(forwardCheck(fwd(), { ...rpi, online: null }, null).warnings, [
    "not checked whether anything accepts on rpi:8080: the hub's WireGuard interface is down",
  ]);
  assert.deepEqual(forwardCheck(fwd(), undefined, null).warnings, [
    "not checked whether anything accepts on rpi:8080: the hub does not list rpi",
  ]);
});

test("checkFromHub probes the peer's address and the first target port, and never throws", async (t) => {
  const said: string[] = [];
  t.mock.method(console, "log", (l: string) => said.push(`out ${l}`));
  t.mock.method(console, "error", (l: string) => said.push(`err ${l}`));
  const asked: string[] = [];
  await checkFromHub(
    fwd({ targetPort: "9000-9001" }),
    async () => [rpi],
    async (addr, port, ms) => {
      asked.push(`${addr}:${port} ${ms}`);
      return ended("accepted");
    },
  );
  assert.deepEqual(asked, ["10.8.0.2:9000 1000"]);
  await checkFromHub(
    fwd(),
    async () => [{ ...rpi, online: null }],
    async () => {
      throw new Error("not to be probed");
    },
  );
  await checkFromHub(
    fwd(),
    async () => {
      throw new Error("the daemon went away");
    },
    async () => ended("accepted"),
  );
  assert.deepEqual(said, [
    "out   checked from the hub: 10.8.0.2:9000 accepts connections from the hub",
    "err not checked whether anything accepts on rpi:8080: the hub's WireGuard interface is down",
    "err not checked whether anything accepts on rpi:8080: the daemon went away",
  ]);
});
