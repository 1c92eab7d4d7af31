// The hub's day-to-day operations in-process over the fake host (issue 9 §3, §5, §6): join tokens are
// listed, revoked and refused for names the hub would refuse; an invalid hand-edited spec keeps the
// live state visible; a change is idempotent by request id.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { hubApi } from "../../src/hub/api.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const SPEC = `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
peers:
  - name: rpi
    publicKey: "${publicKeyOf(generatePrivateKey())}"
    address: 10.8.0.2
forwards:
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080
`;

async function hub(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-ops-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const specFile = join(dir, "porthole.yaml");
  writeFileSync(specFile, SPEC);
  const host: FakeHost = fakeHost({ "/k": hubKey });
  const service = new HubService(
    { host, keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" },
    new SpecStore(specFile, dir),
  );
  await service.reconcile();
  const api = hubApi(service, "unix");
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await api.request(path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return { service, host, specFile, call };
}

const wgPeers = (h: FakeHost) => (h.ifaces.get("wg0")?.peers ?? []).map((p) => p.allowedIps.join(","));

test("pending join tokens are listed with their expiry; peer rm revokes one and its enrollment key goes", async (t) => {
  const { call, host } = await hub(t);
  const made = await call("POST", "/v1/tokens", { name: "nas", expiresSeconds: 3600 });
  assert.equal(made.status, 201);
  assert.ok(wgPeers(host).includes("10.8.0.254/32"), "the hub carries the enrollment key");
  const listed = await call("GET", "/v1/tokens");
  assert.deepEqual(listed.body, [{ name: "nas", admin: false, expires: made.body.expires, expired: false }]);

  const rm = await call("DELETE", "/v1/peers/nas");
  assert.equal(rm.status, 200);
  assert.equal(rm.body.revokedToken, true);
  assert.deepEqual((await call("GET", "/v1/tokens")).body, []);
  assert.ok(!wgPeers(host).includes("10.8.0.254/32"), "the revoked token's key is still on wg0");
  const again = await call("DELETE", "/v1/peers/nas");
  assert.equal(again.status, 404);
  assert.match(again.body.error, /no peer or pending join token named "nas"/);
});

test("a token is refused for a name the hub would refuse at enrollment, and nothing is kept", async (t) => {
  const { call } = await hub(t);
  for (const [name, why] of [
    ["Bad_Name", /name: "Bad_Name" is not a valid name; use 1-32 lowercase letters/],
    ["hub", /name: "hub" is the hub's name; pick another/],
    ["rpi", /a peer named "rpi" exists already/],
  ] as const) {
    const r = await call("POST", "/v1/tokens", { name, expiresSeconds: 3600 });
    assert.ok(r.status === 400 || r.status === 409, `${name}: ${r.status}`);
    assert.match(r.body.error, why);
  }
  assert.deepEqual((await call("GET", "/v1/tokens")).body, []);
});
