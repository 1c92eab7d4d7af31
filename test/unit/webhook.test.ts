// The hub's webhook POST (hub/webhook.ts) against loopback receivers: an event is delivered on any
// port `hub webhook` accepts (fetch refused its "bad ports" without sending, and the daemon logged only
// "fetch failed"), and what went wrong is said: a receiver's error status, nothing listening, silence.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type TestContext, test } from "node:test";
import { postWebhook } from "../../src/hub/webhook.ts";

/** A receiver on `port` (0: any free one): answers `status`, or nothing when null; keeps the bodies. */
async function receiver(t: TestContext, status: number | null, port = 0) {
  const bodies: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (c) => {
      text += c;
    });
    req.on("end", () => {
      bodies.push(JSON.parse(text));
      if (status !== null) res.writeHead(status).end();
    });
  });
  server.listen(port, "127.0.0.1");
  const bound = await Promise.race([
    once(server, "listening").then(() => true),
    once(server, "error").then(() => false),
  ]);
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return bound ? { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies } : null;
}

test("webhook: an event reaches a receiver on a port fetch calls bad (10080, 6665...)", async (t) => {
  let r: Awaited<ReturnType<typeof receiver>> = null;
  for (const port of [10080, 6665, 6666, 6667, 6668, 6669, 4045, 3659]) {
    r = await receiver(t, 204, port);
    if (r) break;
  }
  // A missing prerequisite fails: a skip would read as passed in CI.
  if (!r)
    return assert.fail("every bad port tried (10080, 6665-6669, 4045, 3659) is in use on loopback here");
  assert.equal(await postWebhook(r.url, { event: "peer_online", peer: "rpi" }), null);
  assert.deepEqual(r.bodies, [{ event: "peer_online", peer: "rpi" }]);
});

test("webhook: a receiver's error status, nothing listening and silence are each said", async (t) => {
  const failing = await receiver(t, 500);
  assert.equal(await postWebhook(failing?.url ?? "", { event: "apply_failed" }), "answered 500");
  const silent = await receiver(t, null);
  assert.equal(await postWebhook(silent?.url ?? "", { event: "x" }, 300), "no answer within 0.3 s");
  assert.equal(await postWebhook("http://127.0.0.1:9/hook", { event: "x" }), "ECONNREFUSED");
});
