// The peer agent's nudge (src/peer/nudge.ts) over the fake host: one datagram to the hub's API address
// and port, taken from the URL in peer.json (IPv4, IPv6 in brackets).
import assert from "node:assert/strict";
import { test } from "node:test";
import { nudger } from "../../src/peer/nudge.ts";
import { fakeHost } from "../support/fake-host.ts";

test("a nudge is one datagram to the hub's API address and port", async () => {
  const h = fakeHost();
  const nudge = nudger(h, "http://10.8.0.1:7353");
  nudge();
  nudge();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.probes, ["udp 10.8.0.1:7353", "udp 10.8.0.1:7353"]);
});

test("an IPv6 API address loses its brackets; a URL without a port means port 80", async () => {
  const h = fakeHost();
  nudger(h, "http://[fd00:8::1]:7353")();
  nudger(h, "http://10.8.0.1")();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.probes, ["udp fd00:8::1:7353", "udp 10.8.0.1:80"]);
});
