// The scratch machines' commands cannot reach this machine: each runs in its own network namespace
// (loopback alone), PID namespace (what it starts dies with it) and mount namespace (/run private),
// and reaches a test's hub only through the socket the test gives.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { HUB_PORT, isolated } from "./helpers/scratch-machine.ts";

const PROBE = `
const os = require("node:os"), fs = require("node:fs");
fetch("http://127.0.0.1:${HUB_PORT}/v1/whoami").then((r) => r.text(), (e) => String(e.cause?.code ?? e)).then((hub) =>
  console.log(JSON.stringify({
    interfaces: Object.keys(os.networkInterfaces()),
    pid: process.pid,
    run: fs.readdirSync("/run"),
    hub,
  })));
`;

const work = mkdtempSync(join(tmpdir(), "porthole-isolated-"));
after(() => rmSync(work, { recursive: true, force: true }));

function probe(hubSocket?: string) {
  const [cmd = "unshare", ...argv] = isolated([process.execPath, "-e", PROBE], hubSocket);
  return new Promise<{ interfaces: string[]; pid: number; run: string[]; hub: string }>((resolve, reject) => {
    // Not spawnSync: the test's own server must answer meanwhile.
    const c = spawn(cmd, argv, { env: { ...process.env, PORTHOLE_TEST_HUB: hubSocket ?? "" } });
    let out = "";
    c.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    c.on("error", reject);
    c.on("close", () => resolve(JSON.parse(out)));
  });
}

test("a scratch command sees loopback alone, runs as PID 1 of its own namespace, and a private /run", async () => {
  assert.ok(spawnSync("ip", ["link", "show", "lo"]).status === 0, "this machine has ip");
  const p = await probe();
  assert.deepEqual(p.interfaces, ["lo"]);
  assert.equal(p.pid, 1);
  assert.deepEqual(p.run, []);
  assert.equal(p.hub, "ECONNREFUSED", "no hub: nothing listens on the namespace's loopback");
});

test("a test's hub on a unix socket answers at 127.0.0.1:HUB_PORT inside", async (t) => {
  const sock = join(work, "hub.sock");
  const server = createServer((_req, res) => res.end("hub here"));
  server.listen(sock);
  await once(server, "listening");
  t.after(() => server.close());
  assert.equal((await probe(sock)).hub, "hub here");
});
