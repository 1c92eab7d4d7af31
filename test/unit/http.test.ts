// The hub API's transport (src/peer/http.ts): a kept-alive connection the hub closed without the peer
// seeing it (its FIN lost in the tunnel, the hub rebooted) costs no request: it goes again on a new one.
// A reset on a connection of its own is the error it is, and a timeout holds mid-answer.
import assert from "node:assert/strict";
import { once } from "node:events";
import { Agent, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { type TestContext, test } from "node:test";
import { requestText } from "../../src/peer/http.ts";

/** A server answering with `handle`; what it was asked, by method, path and request id. */
async function server(
  t: TestContext,
  handle: (n: number, req: IncomingMessage, res: ServerResponse) => void,
) {
  const asked: string[] = [];
  const s = createServer((req, res) => {
    asked.push(`${req.method} ${req.url} ${req.headers["x-request-id"] ?? "-"}`);
    handle(asked.length, req, res);
  });
  s.keepAliveTimeout = 60_000;
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  t.after(() => {
    s.closeAllConnections();
    s.close();
  });
  return { port: (s.address() as AddressInfo).port, asked };
}

test("a kept-alive connection reset before the answer: the request goes again on a new one, once", async (t) => {
  // The second request finds its connection gone (the hub restarted and its FIN never arrived).
  const { port, asked } = await server(t, (n, req, res) => {
    if (n === 2) req.socket.destroy();
    else res.end(`answer ${n}`);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  t.after(() => agent.destroy());
  const via = { agent, host: "127.0.0.1", port };
  assert.deepEqual(await requestText(via, "GET", "/v1/whoami", { timeoutMs: 2000 }), {
    status: 200,
    text: "answer 1",
  });
  const again = await requestText(via, "POST", "/v1/applied", {
    body: {},
    headers: { "x-request-id": "r1" },
    timeoutMs: 2000,
  });
  assert.deepEqual(again, { status: 200, text: "answer 3" });
  assert.deepEqual(asked, ["GET /v1/whoami -", "POST /v1/applied r1", "POST /v1/applied r1"]);
});

test("a connection of its own reset, or an answer cut short: the error, not sent again", async (t) => {
  const { port, asked } = await server(t, (n, req, res) => {
    if (n === 1) req.socket.destroy();
    else {
      res.writeHead(200, { "content-length": "100" });
      res.write("part");
      setTimeout(() => res.socket?.destroy(), 50);
    }
  });
  const agent = new Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const own = { connect: () => connect({ host: "127.0.0.1", port }) };
  await assert.rejects(requestText(own, "GET", "/a"), { code: "ECONNRESET" });
  await assert.rejects(requestText({ agent, host: "127.0.0.1", port }, "GET", "/b"), { code: "ECONNRESET" });
  assert.deepEqual(asked, ["GET /a -", "GET /b -"]);
});

test("the timeout holds for the whole exchange, an answer that stops mid-body included", async (t) => {
  const { port } = await server(t, (_n, _req, res) => {
    res.writeHead(200);
    res.write("part"); // and nothing more
  });
  const started = Date.now();
  await assert.rejects(
    requestText({ connect: () => connect({ host: "127.0.0.1", port }) }, "GET", "/", { timeoutMs: 300 }),
    { code: "ETIMEDOUT", message: "no answer within 300 ms" },
  );
  assert.ok(Date.now() - started < 2000);
});
