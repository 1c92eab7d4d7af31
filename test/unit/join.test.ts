// `porthole join` stopped part way: a Ctrl-C before the hub registers the peer undoes every step; a
// join killed outright leaves its enrollment tunnel, which the next join (or `porthole down`) removes
// (it used to refuse: "an interface named wg0 exists already"). On the fake host.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { JoinError, joinHub, removeLeftoverEnrollment, waitForHub } from "../../src/peer/join.ts";
import { makeToken } from "../../src/protocol/tokens.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const ENROLL = generatePrivateKey();
const PAYLOAD = {
  i: "t1",
  n: "rpi",
  h: "203.0.113.1:51820",
  k: publicKeyOf(generatePrivateKey()),
  x: ENROLL,
  a: "10.8.0.254",
  m: 24,
  s: "10.8.0.1",
  p: 51821,
  e: 4_000_000_000,
};
const TOKEN = makeToken(Buffer.alloc(32, 7), PAYLOAD);
const STATE = "/var/lib/porthole";
const KEY = "/etc/porthole/private.key";

function setUp(): { host: FakeHost; opts: Parameters<typeof joinHub>[1]; lines: string[] } {
  const host = fakeHost();
  const lines: string[] = [];
  return {
    host,
    lines,
    opts: {
      ctx: { host, keyFile: KEY, stateDir: STATE, root: "/tmp/none", bin: "porthole" },
      configDir: "/etc/porthole",
      log: (l) => lines.push(l),
    },
  };
}

/** The interface and file a join killed after bringing the enrollment tunnel up leaves behind. */
function leftover(host: FakeHost, key = ENROLL) {
  host.fileMap.set(`${STATE}/enroll.key`, `${ENROLL}\n`);
  host.ifaces.set("wg0", {
    exists: true,
    publicKey: publicKeyOf(key),
    listenPort: null,
    addresses: ["10.8.0.254/24"],
    routes: [],
    mtu: 1420,
    up: true,
    peers: [],
  });
}

test("join stopped by a signal before the hub registers the peer: every step undone, whichever step it was", async () => {
  for (const after of [0, 1]) {
    const { host, opts } = setUp();
    let checks = 0;
    await assert.rejects(
      joinHub(TOKEN, { ...opts, interrupted: () => (checks++ >= after ? "SIGINT" : null) }),
      (e: Error) =>
        e instanceof JoinError &&
        !e.registered &&
        /stopped by SIGINT before the hub registered/.test(e.message),
    );
    assert.equal(host.ifaces.has("wg0"), false, `after ${after} steps: the enrollment tunnel is gone`);
    assert.deepEqual([...host.fileMap.keys()], [], "no key, no enroll.key left");
    if (after === 1) assert.ok(host.calls.includes("wg create wg0"), "the tunnel was up when it stopped");
  }
});

test("a join killed outright: its enrollment tunnel is removed by the next join and by down; another wg0 is kept", async () => {
  const { host, opts, lines } = setUp();
  leftover(host);
  // The next join gets past it (stopped at its first step here: the hub is not in a unit test).
  await assert.rejects(joinHub(TOKEN, { ...opts, interrupted: () => "SIGINT" }), /stopped by SIGINT/);
  assert.deepEqual(lines.slice(0, 2), [
    "- interface wg0 (the enrollment tunnel of a join that was interrupted)",
    `- file ${STATE}/enroll.key`,
  ]);

  // What `porthole down` runs: the same removal.
  leftover(host);
  assert.equal((await removeLeftoverEnrollment(host, STATE)).length, 2);
  assert.equal(host.ifaces.has("wg0"), false);
  assert.deepEqual(await removeLeftoverEnrollment(host, STATE), [], "nothing left: nothing to say");

  // A wg0 with another key is not join's: kept, and join still refuses over it.
  const other = setUp();
  leftover(other.host, generatePrivateKey());
  assert.deepEqual(await removeLeftoverEnrollment(other.host, STATE), [`- file ${STATE}/enroll.key`]);
  assert.equal(other.host.ifaces.has("wg0"), true);
  await assert.rejects(joinHub(TOKEN, other.opts), /an interface named wg0 exists already/);
});

test("after the key switch, join asks the hub with GET /v1/spec, not whoami (which the hub counts as the agent polling)", async (t) => {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    res.end("hub: {}\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  await waitForHub(`http://127.0.0.1:${port}`, 2000);
  assert.deepEqual(asked, ["GET /v1/spec"]);
});

/** A hub on this machine's loopback standing in for the one through the tunnel: it enrolls the peer. */
async function standInHub(t: TestContext, onEnroll: () => void): Promise<number> {
  const hubKey = publicKeyOf(generatePrivateKey());
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/enroll") {
        onEnroll();
        const { publicKey } = JSON.parse(body) as { publicKey: string };
        const spec = `hub:\n  endpoint: 203.0.113.1\n  publicKey: ${hubKey}\npeers:\n  - { name: rpi, publicKey: "${publicKey}", address: 10.8.0.2 }\nforwards: []\n`;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ name: "rpi", address: "10.8.0.2", spec }));
      } else res.end("hub: {}\n");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test("a Ctrl-C while the hub registers this peer finishes the join and says it came during the registration", async (t) => {
  let stopped: string | null = null;
  // The signal arrives while the enroll request is on its way: the hub registers the peer regardless.
  const port = await standInHub(t, () => {
    stopped = "SIGINT";
  });
  const token = makeToken(Buffer.alloc(32, 7), { ...PAYLOAD, s: "127.0.0.1", p: port });
  const { host, opts } = setUp();
  const r = await joinHub(token, { ...opts, interrupted: () => stopped });
  assert.equal(r.name, "rpi");
  assert.equal(r.signalledWhileRegistering, "SIGINT");
  assert.ok(host.ifaces.has("wg0"), "the join was finished");

  // No signal: nothing to say.
  const quiet = await standInHub(t, () => {});
  const again = setUp();
  const calm = await joinHub(
    makeToken(Buffer.alloc(32, 7), { ...PAYLOAD, s: "127.0.0.1", p: quiet }),
    again.opts,
  );
  assert.equal(calm.signalledWhileRegistering, null);
});
