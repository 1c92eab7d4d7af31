// The peer's probe of the hub's API (host/probes.ts httpProbe) against loopback servers: an answer, a
// server that accepts and never answers (said as the time waited), nothing listening (ECONNREFUSED).
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { httpProbe } from "../../src/host/probes.ts";

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(onConn);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/v1/whoami` };
}

test("httpProbe: an answer has its status; silence reads 'no answer within N s'; nothing listening ECONNREFUSED", async () => {
  const ok = await listen((s) => s.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
  const held: Socket[] = [];
  const silent = await listen((s) => held.push(s));
  try {
    const r = await httpProbe(ok.url, 2000);
    assert.equal("status" in r && r.status, 200);
    assert.deepEqual(await httpProbe(silent.url, 300), { error: "no answer within 0.3 s" });
  } finally {
    for (const s of held) s.destroy();
    ok.server.close();
    silent.server.close();
  }
  assert.deepEqual(await httpProbe(ok.url, 2000), { error: "ECONNREFUSED" });
});

test("httpProbe: a hub API on a port fetch calls bad (6000, 10080...) is asked, not read as no answer", async (t) => {
  // The spec allows any port for hub.apiPort; fetch refused these itself ("bad port"), so doctor's
  // hub-api check said FAIL "did not answer through the tunnel" for a hub that answers.
  const answer = (s: Socket) =>
    s.end("HTTP/1.1 204 No Content\r\ndate: Tue, 01 Dec 2026 12:00:00 GMT\r\nconnection: close\r\n\r\n");
  let server: Server | undefined;
  let port = 0;
  for (const p of [10080, 6665, 6666, 6667, 6668, 6669, 4045, 3659]) {
    const s = createServer(answer);
    const bound = await new Promise<boolean>((r) => {
      s.once("error", () => r(false));
      s.listen(p, "127.0.0.1", () => r(true));
    });
    if (bound) {
      [server, port] = [s, p];
      break;
    }
  }
  // A missing prerequisite fails: a skip would read as passed in CI.
  if (!server)
    return assert.fail("every bad port tried (10080, 6665-6669, 4045, 3659) is in use on loopback here");
  t.after(() => server.close());
  const r = await httpProbe(`http://127.0.0.1:${port}/v1/spec`, 2000);
  assert.ok("status" in r, JSON.stringify(r));
  assert.equal(r.status, 204);
  assert.equal(r.remoteMs, Date.parse("2026-12-01T12:00:00Z"));
});
