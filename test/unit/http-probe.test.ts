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
