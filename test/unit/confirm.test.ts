// apply --confirm's try/revert (src/reconcile/confirm.ts) on the fake host: an unconfirmed try goes
// back to the state before it (or down, when there was none); a confirmed or newer try stays.
import assert from "node:assert/strict";
import { test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { armPending, confirmPending, pendingFile, revertUnconfirmed } from "../../src/reconcile/confirm.ts";
import { apply, type Context } from "../../src/reconcile/reconcile.ts";
import { readApplied } from "../../src/reconcile/state.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeContext, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const rpi = publicKeyOf(generatePrivateKey());
const spec = (port: number) => `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
peers:
  - { name: rpi, publicKey: "${rpi}", address: 10.8.0.2 }
forwards:
  - { name: web, port: ${port}, peer: rpi, targetPort: 8080 }
`;

const ctx = (host: FakeHost) => fakeContext(host);

async function applyText(c: Context, text: string) {
  const r = loadSpec(text);
  assert.ok(r.ok);
  await apply(c, { spec: r.spec, specText: text, hostName: "hub", confirming: true });
}

const TRY = { token: "t1", pid: 4242, deadline: 0 };
/** The spec the host holds now, as its state file records it (what a reboot would restore). */
const held = async (h: FakeHost) => (await readApplied(h, "/state"))?.specText;
const firewallCalls = (h: FakeHost) => h.calls.filter((x) => x.startsWith("nft"));

test("confirm: an unconfirmed try reverts to the state before it and is forgotten", async () => {
  const h = fakeHost({ "/k": hubKey });
  const c = ctx(h);
  await applyText(c, spec(80));
  await applyText(c, spec(81));
  await armPending(h, c.stateDir, TRY);
  assert.equal(await held(h), spec(81));
  h.calls.length = 0;
  assert.equal(await revertUnconfirmed(c, "t1"), true);
  assert.equal(await held(h), spec(80), "port 80 is back");
  assert.deepEqual(firewallCalls(h), ["nft patch"], "the forward's element changed back in the kernel");
  assert.equal(await h.files.read(pendingFile(c.stateDir)), null);
  assert.equal(await revertUnconfirmed(c, "t1"), false, "once only");
});

test("confirm: a confirmed try stays; a waiter of an older try leaves a newer one alone", async () => {
  const h = fakeHost({ "/k": hubKey });
  const c = ctx(h);
  await applyText(c, spec(80));
  await applyText(c, spec(81));
  await armPending(h, c.stateDir, TRY);
  h.calls.length = 0;
  assert.equal(await revertUnconfirmed(c, "an older try"), false);
  assert.equal(await held(h), spec(81));
  assert.deepEqual(await confirmPending(h, c.stateDir), TRY, "confirm names the waiter to stop");
  assert.equal(await revertUnconfirmed(c, "t1"), false);
  assert.equal(await held(h), spec(81), "kept once confirmed");
  assert.deepEqual(h.calls, ["rm /state/pending-confirm.json"], "nothing else on the host changed");
  assert.equal(await confirmPending(h, c.stateDir), null, "nothing left to confirm");
});

test("confirm: an unconfirmed first apply (nothing before it) reverts to nothing of porthole's", async () => {
  const h = fakeHost({ "/k": hubKey });
  const c = ctx(h);
  await applyText(c, spec(80));
  await armPending(h, c.stateDir, TRY);
  assert.ok(h.ifaces.has("wg0"));
  assert.equal(await revertUnconfirmed(c, "t1"), true);
  assert.equal(h.ifaces.has("wg0"), false, "the interface is gone");
  assert.equal(await readApplied(h, c.stateDir), null);
});
