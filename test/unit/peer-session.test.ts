// The peer agent's side of a restarted hub (src/peer/session.ts), over the fake host: when a request
// to the hub fails and nothing came back through the tunnel, the WireGuard session is dropped (the
// hub's peer entry removed and set again as it was) and the request tried once more.
import assert from "node:assert/strict";
import { test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { HubUnreachable } from "../../src/peer/client.ts";
import { hubSession } from "../../src/peer/session.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const HUB = { interface: "wg0", publicKey: publicKeyOf(generatePrivateKey()) };
const HUB_PEER = {
  publicKey: HUB.publicKey,
  allowedIps: ["10.8.0.0/24"],
  endpoint: "203.0.113.1:51820",
  keepalive: 25,
};
const HANDSHAKE = 1_700_000_000;

async function peerHost(): Promise<FakeHost> {
  const h = fakeHost();
  await h.wg.create("wg0");
  await h.wg.setPeer("wg0", HUB_PEER);
  h.peerStats.set(HUB.publicKey, { latestHandshake: HANDSHAKE, rxBytes: 1000, txBytes: 2000 });
  h.calls = [];
  return h;
}

const unreachable = (refused = false) => {
  const e = new HubUnreachable("timed out");
  e.refused = refused;
  return e;
};

/** A request that fails `failures` times, then answers "ok"; counts its calls. */
function flaky(failures: number, error: () => Error = () => unreachable()) {
  const r = {
    calls: 0,
    run: async () => {
      r.calls++;
      if (r.calls <= failures) throw error();
      return "ok";
    },
  };
  return r;
}

test("the hub sent nothing back: the session is renewed (peer entry set again as it was) and the request answers", async () => {
  const h = await peerHost();
  const log: string[] = [];
  const s = hubSession(h, (l) => log.push(l));
  const req = flaky(1);
  assert.equal(await s.ask(HUB, req.run), "ok");
  assert.equal(req.calls, 2);
  assert.deepEqual(h.calls, ["wg rm-peer wg0", "wg peer wg0 10.8.0.0/24"]);
  assert.deepEqual(h.ifaces.get("wg0")?.peers, [HUB_PEER]);
  assert.deepEqual(log, ["the hub sent nothing back through the tunnel: new WireGuard session with it"]);
});

test("bytes came back from the hub (its kernel answered): the session works, nothing is renewed", async () => {
  const h = await peerHost();
  const s = hubSession(h, () => {});
  const req = {
    calls: 0,
    run: async () => {
      req.calls++;
      h.peerStats.set(HUB.publicKey, { latestHandshake: HANDSHAKE, rxBytes: 1100, txBytes: 2100 });
      throw unreachable();
    },
  };
  await assert.rejects(s.ask(HUB, req.run), HubUnreachable);
  assert.equal(req.calls, 1);
  assert.deepEqual(h.calls, []);
});

test("a refused connection, another error, or no hub peer on the interface: no renewal, the error stands", async () => {
  const h = await peerHost();
  const s = hubSession(h, () => {});
  await assert.rejects(s.ask(HUB, flaky(1, () => unreachable(true)).run), HubUnreachable);
  await assert.rejects(s.ask(HUB, flaky(1, () => new Error("HTTP 500")).run), /HTTP 500/);
  await assert.rejects(s.ask({ ...HUB, interface: "wg9" }, flaky(1).run), HubUnreachable);
  await assert.rejects(s.ask(undefined, flaky(1).run), HubUnreachable);
  assert.deepEqual(h.calls, []);
});

test("a hub that stays silent: renewed on every request, logged once per outage, the handshake from before counts", async () => {
  const h = await peerHost();
  const log: string[] = [];
  const s = hubSession(h, (l) => log.push(l));
  for (let i = 0; i < 3; i++) {
    await assert.rejects(s.ask(HUB, flaky(2).run), HubUnreachable);
    // What WireGuard reports after the peer entry was set again: no handshake yet.
    h.peerStats.set(HUB.publicKey, { latestHandshake: 0, rxBytes: 0, txBytes: 0 });
  }
  assert.equal(h.calls.filter((c) => c === "wg rm-peer wg0").length, 3);
  assert.equal(log.length, 1);
  assert.equal(s.latestHandshake(0), HANDSHAKE, "the renewal does not make the hub look never seen");
  assert.equal(s.latestHandshake(HANDSHAKE + 60), HANDSHAKE + 60);
  assert.equal(await s.ask(HUB, flaky(1).run), "ok");
  await assert.rejects(s.ask(HUB, flaky(2).run), HubUnreachable);
  assert.equal(log.length, 2, "a new outage after an answer is told again");
});
