// How a TCP connect ended (host/probes.ts): each errno a connect can end with read as the case a network
// engineer names, and a real connect on loopback — accepted by a listener, refused by a closed port.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { connectFailure, tcpConnect } from "../../src/host/probes.ts";

test("connect outcome: each errno is its own case; anything else is an error said as itself", () => {
  assert.deepEqual(connectFailure("ECONNREFUSED"), { outcome: "refused", error: "ECONNREFUSED" });
  assert.deepEqual(connectFailure("ETIMEDOUT"), { outcome: "timeout", error: "ETIMEDOUT" });
  assert.deepEqual(connectFailure("EHOSTUNREACH"), { outcome: "unreachable", error: "EHOSTUNREACH" });
  for (const code of ["ENETUNREACH", "ENOPROTOOPT", "EHOSTDOWN", "ENONET"])
    assert.deepEqual(connectFailure(code), { outcome: "unreachable", error: code }, code);
  for (const code of ["EPERM", "EMFILE", "EADDRNOTAVAIL", "ENOBUFS"])
    assert.deepEqual(connectFailure(code), { outcome: "error", error: code }, code);
});

test("connect outcome on loopback: a listener accepts; the same port closed refuses (a RST)", async (t) => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  assert.deepEqual(await tcpConnect("127.0.0.1", port, 2000), { outcome: "accepted", error: null });
  await new Promise((r) => server.close(r));
  assert.deepEqual(await tcpConnect("127.0.0.1", port, 2000), { outcome: "refused", error: "ECONNREFUSED" });
});
