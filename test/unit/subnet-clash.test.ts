// The tunnel's subnet against this machine's own networks (the home LAN, docker0): `ip address add`
// took a wg0 address in a network another interface held, the kernel kept routing it by the first, and
// the tunnel (or the LAN) went dark with `hub init` saying "initialized". Now apply refuses it (and a
// dry run says so) and join refuses before its enrollment tunnel, both changing nothing. On the fake host.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { IfaceAddress } from "../../src/host/types.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { JoinError, joinHub } from "../../src/peer/join.ts";
import { makeToken } from "../../src/protocol/tokens.ts";
import { apply } from "../../src/reconcile/reconcile.ts";
import { ApplyError } from "../../src/reconcile/steps.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeContext, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const spec = (subnet: string) =>
  [
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(hubKey)}`,
    `  subnet: ${subnet}`,
    "peers: []",
    "forwards: []",
  ].join("\n");

const lan = (address: string, prefixlen: number, scope = "global"): IfaceAddress => ({
  iface: "lan",
  family: address.includes(":") ? 6 : 4,
  address,
  prefixlen,
  scope,
  dynamic: false,
});

const ctx = (h: FakeHost) => fakeContext(h);

async function applyHub(h: FakeHost, subnet: string, dryRun = false) {
  const text = spec(subnet);
  const r = loadSpec(text);
  assert.ok(r.ok, r.ok ? "" : r.report);
  return apply(ctx(h), { spec: r.spec, specText: text, hostName: "hub", dryRun });
}

test("apply: a hub.subnet whose network the LAN uses is refused, naming both, and nothing changes", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.addresses.push(lan("192.168.77.1", 24));
  await assert.rejects(applyHub(h, "192.168.77.0/24"), (e: Error) => {
    assert.ok(e instanceof ApplyError && !e.rolledBack);
    assert.match(
      e.message,
      /^refusing to apply: wg0 address 192\.168\.77\.1\/24: its network 192\.168\.77\.0\/24 is the network of lan's 192\.168\.77\.1\/24 on this machine; .* Set hub\.subnet to a prefix no interface here uses/,
    );
    return true;
  });
  assert.equal(h.ifaces.size, 0, "an interface was made");
  assert.equal(h.fileMap.has("/state/applied.json"), false);
});

test("apply: networks that only nest (a LAN around the tunnel's, or inside it) apply, with a warning naming the range cut off", async () => {
  for (const [addr, len, says] of [
    // around it: the tunnel's /24 wins; the LAN's hosts in it are out of reach
    [
      "192.168.0.1",
      16,
      /192\.168\.77\.0\/24 is routed by its own, longer prefix, so lan's network cannot reach/,
    ],
    // inside it: the LAN's /25 wins; tunnel addresses in it are out of reach
    [
      "192.168.77.130",
      25,
      /192\.168\.77\.128\/25 is routed by its own, longer prefix, so the tunnel cannot reach/,
    ],
  ] as const) {
    const h = fakeHost({ "/k": hubKey });
    h.addresses.push(lan(addr, len));
    const r = await applyHub(h, "192.168.77.0/24");
    assert.equal(r.changed, true, `${addr}/${len}`);
    assert.match(r.warnings.join("\n"), says);
    assert.match(r.warnings.join("\n"), /Set hub\.subnet to a prefix no interface here uses/);
  }
});

test("apply: a dry run says it would refuse; other networks, link-scope and loopback addresses do not count", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.addresses.push(lan("192.168.77.1", 24));
  const dry = await applyHub(h, "192.168.77.0/24", true);
  assert.match(dry.warnings.join("\n"), /^apply would refuse: wg0 address 192\.168\.77\.1\/24/m);
  const ok = fakeHost({ "/k": hubKey });
  ok.addresses.push(lan("192.168.78.1", 24), lan("fe80::1", 64, "link"), {
    ...lan("127.0.0.1", 8, "host"),
    iface: "lo",
  });
  assert.equal((await applyHub(ok, "192.168.77.0/24")).changed, true);
  assert.equal(
    (await applyHub(ok, "192.168.77.0/24")).changed,
    false,
    "an applied tunnel is not judged again",
  );
});

test("join: a hub subnet this machine's LAN uses is refused before the enrollment tunnel", async () => {
  const host = fakeHost();
  host.addresses.push({ ...lan("10.8.0.20", 24), iface: "eth0" });
  const token = makeToken(Buffer.alloc(32, 7), {
    i: "t1",
    n: "rpi",
    h: "203.0.113.1:51820",
    k: publicKeyOf(generatePrivateKey()),
    x: generatePrivateKey(),
    a: "10.8.0.254",
    m: 24,
    s: "10.8.0.1",
    p: 51821,
    e: 4_000_000_000,
  });
  const opts = {
    ctx: {
      host,
      keyFile: "/etc/porthole/private.key",
      stateDir: "/var/lib/porthole",
      root: "/x",
      bin: "porthole",
    },
    configDir: "/etc/porthole",
    log: () => {},
  };
  await assert.rejects(joinHub(token, opts), (e: Error) => {
    assert.ok(e instanceof JoinError && !e.registered);
    assert.match(
      e.message,
      /^wg0 address 10\.8\.0\.254\/24: its network 10\.8\.0\.0\/24 is the network of eth0's 10\.8\.0\.20\/24/,
    );
    assert.match(e.message, /Set hub\.subnet on the hub to a prefix/);
    return true;
  });
  assert.equal(host.ifaces.size, 0);
  assert.deepEqual([...host.fileMap.keys()], [], "nothing written (not even the private key)");
});
