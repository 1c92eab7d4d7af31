// The views of the spec the hub hands its peers (GET /v1/spec, the whoami hash): one per peer and spec
// text, kept while that text is the spec, however many peers ask (each every 2 s).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hostFiles } from "../../src/host/files.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();

/** A hub's spec with `n` peers (p0, p1, …) in 10.8.0.0/16, each with one forward. */
function specText(n: number, extra = ""): string {
  const peers = Array.from(
    { length: n },
    (_, i) =>
      `  - { name: p${i}, publicKey: "${publicKeyOf(generatePrivateKey())}", address: 10.8.${(i + 2) >> 8}.${(i + 2) & 255} }`,
  );
  const forwards = Array.from(
    { length: n },
    (_, i) => `  - { name: f${i}, port: ${10000 + i}, peer: p${i}, targetPort: 8080 }`,
  );
  return `hub:\n  endpoint: 203.0.113.1\n  publicKey: ${publicKeyOf(hubKey)}\n  subnet: 10.8.0.0/16\n  address: 10.8.0.1\npeers:\n${peers.join("\n")}\nforwards:\n${forwards.join("\n")}\n${extra}`;
}

test("specFor: past 1000 peers a peer's view is rendered once per spec text, not on every request", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-views-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "porthole.yaml");
  const text = specText(1100);
  writeFileSync(file, text);
  const service = new HubService(
    { host: fakeHost({ "/k": hubKey }), keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" },
    new SpecStore(hostFiles, file, dir),
  );
  const as = (i: number) =>
    service.specFor({ kind: "peer", name: `p${i}`, admin: false, publicKey: `p${i}-key` });
  const first = await as(0);
  for (let i = 1; i < 1100; i++) await as(i);
  // The same object: the view kept, not rendered again (a cap of 1000 views emptied it on the way).
  assert.equal(await as(0), first);
  assert.match(first.text, /name: p0\b/);
  // A new spec text: rendered again from it.
  writeFileSync(file, text.replace("port: 10000,", "port: 9999,"));
  const next = await as(0);
  assert.notEqual(next, first);
  assert.notEqual(next.hash, first.hash);
  assert.equal(await as(0), next);
});
