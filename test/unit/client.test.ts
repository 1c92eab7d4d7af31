// The one typed client (src/protocol/client.ts) against the real API in-process: each route's reply
// parses into its protocol type, and a reply of the wrong shape is an error naming the route.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { hostFiles } from "../../src/host/files.ts";
import { hubApi } from "../../src/hub/api.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { HubUnreachable, hubRequest } from "../../src/peer/client.ts";
import { BadReply, errorMessage, hubClient, jsonOrText, type Transport } from "../../src/protocol/client.ts";
import { fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const SPEC = `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
peers:
  - name: rpi
    publicKey: "${publicKeyOf(generatePrivateKey())}"
    address: 10.8.0.2
`;

/** The client as root over the hub's API run in-process (as `callHub` does without the daemon). */
async function rootClient(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-client-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "porthole.yaml"), SPEC);
  const ctx = { host: fakeHost({ "/k": hubKey }), keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" };
  const app = hubApi(new HubService(ctx, new SpecStore(hostFiles, join(dir, "porthole.yaml"), dir)), "unix");
  const send: Transport = async (method, path, body) => {
    const res = await app.request(path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const reply = jsonOrText(await res.text());
    if (res.status >= 400) throw new Error(errorMessage(reply, String(reply)));
    return reply;
  };
  return hubClient(send);
}

test("client: every route's reply parses into its protocol type", async (t) => {
  const hub = await rootClient(t);
  const me = await hub.whoami();
  assert.equal(me.kind, "root");
  assert.match(me.specHash ?? "", /^[0-9a-f]{16}$/);
  assert.match(await hub.spec(), /name: rpi/);
  assert.equal((await hub.apply()).changed, true);
  const f = await hub.addForward({ port: 80, targetPort: 8080, peer: "rpi" });
  const web = { name: f.name, proto: "tcp", port: "80", peer: "rpi", targetPort: "8080", mode: "snat" };
  assert.deepEqual(f, { ...web, allowFrom: [] });
  assert.deepEqual(await hub.forwards(), [f]);
  assert.deepEqual(await hub.removeForward(f.name), f);
  assert.deepEqual(await hub.forwards(), []);
  const token = await hub.createToken({ name: "nas" });
  assert.match(token.expires, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(
    (await hub.tokens()).map((x) => [x.name, x.admin, x.expired]),
    [["nas", false, false]],
  );
  assert.deepEqual(await hub.removePeer("nas"), { removedForwards: [], revokedToken: true });
  const device = await hub.addPeer({ name: "phone", device: true });
  assert.equal(device.name, "phone");
  assert.equal(publicKeyOf(device.privateKey as string).length, 44);
  assert.deepEqual(
    (await hub.peers()).map((p) => p.name),
    ["rpi", "phone"],
  );
  assert.deepEqual((await hub.status()).forwards, []);
  await assert.rejects(hub.removeForward("web"), /no forward named "web"|web/);
});

test("client: a reply of the wrong shape is an error naming the route, not undefined later", async () => {
  const answering =
    (body: unknown): Transport =>
    async () =>
      body;
  await assert.rejects(hubClient(answering({})).forwards(), (e) => {
    assert.ok(e instanceof BadReply);
    assert.match(e.message, /^GET \/v1\/forwards: the hub's reply is not what this porthole expects/);
    return true;
  });
  await assert.rejects(hubClient(answering([{ name: "web" }])).forwards(), BadReply);
  await assert.rejects(hubClient(answering({ lines: [] })).apply(), /POST \/v1\/apply/);
  await assert.rejects(
    hubClient(answering({ error: "x" })).spec(),
    /GET \/v1\/spec: the hub's reply is not text/,
  );
  assert.equal(errorMessage({ error: "no" }, "fallback"), "no");
  assert.equal(errorMessage("plain text", "fallback"), "fallback");
});

test("peer transport: silence from the hub names a removed peer among the causes and what to run on each side", async (t) => {
  // A loopback listener that accepts and never answers: the request times out as through a dead tunnel.
  const held: Socket[] = [];
  const server = createServer((s) => void held.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const err = await hubRequest(`http://127.0.0.1:${port}`, "GET", "/v1/status", undefined, 300).then(
    () => assert.fail("answered"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HubUnreachable);
  assert.equal(err.refused, false);
  assert.match(err.message, /its daemon may be down, the tunnel may be, or this peer was removed on the hub/);
  assert.match(err.message, /here, `porthole doctor` checks the tunnel; on the hub, .*`porthole peer ls`/);
});

test("peer transport: a change the hub did not answer is followed up, and the caller is told once that it waits", async (t) => {
  // The first POST gets no answer (a lost reply); asked about it, the hub says it was done.
  const server = createHttpServer((req, res) => {
    if (req.method === "POST") return; // never answered
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ state: "done", status: 201, body: { name: "web" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const told: string[] = [];
  const body = await hubRequest(`http://127.0.0.1:${port}`, "POST", "/v1/forwards", {}, 300, {
    onWait: (m) => told.push(m),
  });
  assert.deepEqual(body, { name: "web" });
  assert.equal(told.length, 1);
  assert.match(
    told[0] ?? "",
    /^no answer from the hub through the tunnel \(http:\/\/127\.0\.0\.1:\d+\) within 0\.3 s; asking it what became of this change for up to 60 s more/,
  );
});
