// A peer command's report of its apply (expose, unexpose: POST /v1/applied) is one attempt: a hub that
// does not answer it costs the command its 5 s, not a change's minute of follow-ups (the change the
// command made is already done; the agent reports again on its next tick).
import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { reportApply } from "../../src/cli/peer-commands.ts";

test("reportApply: a hub that never answers gets one request, and the command goes on after its timeout", async (t) => {
  const asked: string[] = [];
  const sockets: Socket[] = [];
  // Reads each request and never answers: a hub whose daemon is busy or stuck.
  const server = createServer((s) => {
    sockets.push(s);
    s.on("data", (d: Buffer) => {
      const line = d.toString("utf8").split("\r\n")[0];
      if (line && /^[A-Z]+ \//.test(line)) asked.push(line.replace(/ HTTP\/.*/, ""));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const started = Date.now();
  await reportApply(api, "hub: {}\n", null);
  const took = Date.now() - started;
  assert.ok(took < 15_000, `took ${took} ms`);
  assert.deepEqual(asked, ["POST /v1/applied"]);
});
