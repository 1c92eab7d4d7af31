// `porthole status` on a joined peer names its hub by the endpoint the hub's reply gives (hub.endpoint),
// so a peer's status needs no parse of its copy of the spec; from an older hub (no endpoint in the
// reply) it falls back to that copy, and without one to the API address it joined. Run as a user would,
// with the built CLI on a scratch peer; a small server on a unix socket stands in for the hub.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, type TestContext, test } from "node:test";
import type { HubStatus } from "../../src/protocol/status.ts";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { HUB_PORT, scratchMachines } from "./helpers/scratch-machine.ts";

before(ensureBuilt);

const reply = (endpoint?: string): HubStatus => ({
  hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", endpoint, up: true },
  peers: [],
  forwards: [],
  firewall: [],
});

/** A scratch peer whose hub answers every status with `status`; its copy of the spec kept or removed. */
async function peerOf(t: TestContext, status: HubStatus, copy: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-peer-status-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(status));
  });
  server.listen(join(dir, "hub.sock"));
  await once(server, "listening");
  t.after(() => server.close());
  const m = scratchMachines("peer-status", join(dir, "hub.sock"))("peer");
  writeFileSync(
    join(m.state, "peer.json"),
    JSON.stringify({ name: "rpi", api: `http://127.0.0.1:${HUB_PORT}` }),
  );
  if (!copy) rmSync(join(m.config, "porthole.yaml"));
  return { m, asked };
}

test("peer status: the hub named by the endpoint in its reply, not by this peer's copy of the spec", async (t) => {
  // The copy says 203.0.113.1; the hub's reply is what the hub runs on now.
  const { m, asked } = await peerOf(t, reply("vps.example.net:51820"), true);
  const r = await m.runAsync(["status"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^peer "rpi", joined to hub vps\.example\.net:51820 \(10\.8\.0\.1\)$/m);
  assert.deepEqual(asked, ["GET /v1/status?forwards=summary"]);
});

test("peer status: an older hub's reply (no endpoint) names it from the copy, or by its API without one", async (t) => {
  const withCopy = await peerOf(t, reply(), true);
  const r = await withCopy.m.runAsync(["status"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^peer "rpi", joined to hub 203\.0\.113\.1:51820 \(10\.8\.0\.1\)$/m);

  const none = await peerOf(t, reply(), false);
  const n = await none.m.runAsync(["status"]);
  assert.equal(n.status, 0, n.stderr);
  assert.match(n.stdout, new RegExp(`^peer "rpi", joined to hub http://127\\.0\\.0\\.1:${HUB_PORT}$`, "m"));
});
