// A forward on a public port that a service on the hub listens on (issue 8 §5): the `ss` reading, which
// sockets count as public, apply's refusal of a plan that newly shadows one, and the hub daemon's
// refusal (always for a peer that is not an admin; for admins unless forced).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { hostFiles } from "../../src/host/files.ts";
import { parseSs } from "../../src/host/listeners.ts";
import type { Listener } from "../../src/host/types.ts";
import { Conflict, Forbidden } from "../../src/hub/errors.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { apply } from "../../src/reconcile/reconcile.ts";
import { servesPublic, shadowedPorts } from "../../src/reconcile/shadowed.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeContext, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const KEYS = { rpi: publicKeyOf(generatePrivateKey()), boss: publicKeyOf(generatePrivateKey()) };

const spec = (forwards: string[], hubExtra = "") => `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
  subnet6: fd00:8::/64
${hubExtra}peers:
  - { name: rpi, publicKey: "${KEYS.rpi}", address: 10.8.0.2 }
  - { name: boss, publicKey: "${KEYS.boss}", address: 10.8.0.3, admin: true }
forwards:
${forwards.map((f) => `  - ${f}\n`).join("") || "  []\n"}`;

// Real `ss -H -l -n -t -u -p` output (a lab hub with a python server, plus the usual kinds of sockets).
const SS = `udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=401,fd=13))
udp   UNCONN 0      0            0.0.0.0:51820     0.0.0.0:*
udp   UNCONN 0      0                  *:5353            *:*    users:(("avahi-daemon",pid=77,fd=12))
tcp   LISTEN 0      5            0.0.0.0:8443      0.0.0.0:*    users:(("python3",pid=812,fd=3),("python3",pid=812,fd=4))
tcp   LISTEN 0      511         10.8.0.1:51821     0.0.0.0:*    users:(("node",pid=900,fd=21))
tcp   LISTEN 0      128        127.0.0.1:631       0.0.0.0:*
tcp   LISTEN 0      128             [::]:8444         [::]:*    users:(("caddy",pid=55,fd=7))
tcp   LISTEN 0      128    [fd00:8::1]:9100         [::]:*
tcp   LISTEN 0      128      203.0.113.1:25        0.0.0.0:*
tcp   LISTEN 0      128     0.0.0.0%wg0:9200       0.0.0.0:*
`;

test("ss output: protocol, address, device, port and the programs, per socket", () => {
  const l = parseSs(SS);
  assert.equal(l.length, 10);
  assert.deepEqual(l[0], {
    proto: "udp",
    address: "127.0.0.53",
    device: "lo",
    port: 53,
    processes: ["systemd-resolve (pid 401)"],
  });
  assert.deepEqual(l[3], {
    proto: "tcp",
    address: "0.0.0.0",
    device: undefined,
    port: 8443,
    processes: ["python3 (pid 812)"],
  });
  assert.equal(l[6]?.address, "::");
  assert.equal(l[7]?.address, "fd00:8::1");
  assert.deepEqual(l[1]?.processes, [], "without root (or -p) no program is named");
});

test("public: wildcards and the public address; not loopback, the tunnel addresses or the tunnel device", () => {
  const loaded = loadSpec(spec([]));
  assert.ok(loaded.ok);
  const hub = loaded.spec.hub;
  const pub = parseSs(SS)
    .filter((l) => servesPublic(l, hub))
    .map((l) => `${l.proto}/${l.address}:${l.port}`);
  assert.deepEqual(pub, [
    "udp/0.0.0.0:51820",
    "udp/*:5353",
    "tcp/0.0.0.0:8443",
    "tcp/:::8444",
    "tcp/203.0.113.1:25",
  ]);
  const forwards = [
    { name: "a", protos: ["tcp" as const], port: { from: 8440, to: 8450 } },
    { name: "b", protos: ["tcp" as const, "udp" as const], port: { from: 5353, to: 5353 } },
    { name: "c", protos: ["tcp" as const], port: { from: 631, to: 631 } },
    { name: "d", protos: ["tcp" as const], port: { from: 51821, to: 51821 } },
  ];
  assert.deepEqual(
    shadowedPorts(hub, forwards, parseSs(SS)).map((s) => `${s.forward} ${s.proto}/${s.port}`),
    ["a tcp/8443", "b udp/5353"],
  );
});

const PYTHON: Listener = {
  proto: "tcp",
  address: "0.0.0.0",
  port: 8443,
  processes: ["python3 (pid 812)"],
};

const ctx = (h: FakeHost, dir = "/state") => fakeContext(h, { stateDir: dir });

async function applyText(h: FakeHost, text: string) {
  const r = loadSpec(text);
  assert.ok(r.ok, r.ok ? "" : r.report);
  return apply(ctx(h), { spec: r.spec, specText: text, hostName: "hub" });
}

test("apply: a forward that newly takes a port a hub service listens on fails, naming it; forced, it applies", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.listeners = [PYTHON];
  await applyText(h, spec(["{ name: web, port: 80, peer: rpi }"]));
  const calls = h.calls.length;
  const shadowing = spec(["{ name: web, port: 80, peer: rpi }", "{ name: alt, port: 8400-8500, peer: rpi }"]);
  await assert.rejects(applyText(h, shadowing), (e: Error) => {
    assert.equal(
      e.message,
      'refusing to apply: a service on the hub listens on a forward\'s public port:\n  forward "alt": tcp/8443 is in use on the hub: python3 (pid 812) listens on 0.0.0.0:8443\nthe forward would cut that service off from the internet. Pick another public port, stop the service, or, if the forward should take the port over, set shadowHubService: true on the forward',
    );
    return true;
  });
  assert.equal(h.calls.length, calls, "nothing was changed");
  // udp/8443 is another socket: no conflict.
  await applyText(
    h,
    spec(["{ name: web, port: 80, peer: rpi }", "{ name: q, proto: udp, port: 8443, peer: rpi }"]),
  );
  const forced = spec([
    "{ name: web, port: 80, peer: rpi }",
    "{ name: alt, port: 8400-8500, peer: rpi, shadowHubService: true }",
  ]);
  const r = await applyText(h, forced);
  assert.ok(r.changed);
  assert.ok(
    r.lines.some((l) => l.startsWith("+ forward alt tcp/8400-8500")),
    r.lines.join("\n"),
  );
});

test("apply: a service that starts after its port was forwarded does not break later applies", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, spec(["{ name: alt, port: 8443, peer: rpi }"]));
  h.listeners = [PYTHON];
  assert.equal((await applyText(h, spec(["{ name: alt, port: 8443, peer: rpi }"]))).changed, false);
  const more = await applyText(
    h,
    spec(["{ name: alt, port: 8443, peer: rpi }", "{ name: b, port: 81, peer: rpi }"]),
  );
  assert.ok(more.changed, "the forward that already had the port is not checked again");
});

async function service(t: TestContext, forwards: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-shadow-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "porthole.yaml");
  writeFileSync(file, spec(forwards));
  const host = fakeHost({ "/k": hubKey });
  const s = new HubService(ctx(host, dir), new SpecStore(hostFiles, file, dir));
  await s.reconcile();
  host.listeners = [PYTHON];
  return { s, host, text: () => readFileSync(file, "utf8") };
}

// The keys are not checked here (who is who comes from the caller's address, in `identify`).
const rpi = { kind: "peer", name: "rpi", admin: false, publicKey: "rpi-key" } as const;
const boss = { kind: "peer", name: "boss", admin: true, publicKey: "boss-key" } as const;

test("hub daemon: a peer that is not an admin is refused, forced or not; the spec is untouched", async (t) => {
  const { s, text } = await service(t);
  const before = text();
  await assert.rejects(s.addForward(rpi, { port: 8443, targetPort: 9443 }), (e: Error) => {
    assert.ok(e instanceof Conflict);
    assert.equal(
      e.message,
      "port: tcp/8443 is in use by a service on the hub; a forward would cut that service off from the internet. pick another public port (only an admin can force a forward over a service of the hub)",
    );
    return true;
  });
  await assert.rejects(
    s.addForward(rpi, { port: 8443, targetPort: 9443, shadowHubService: true }),
    (e: Error) =>
      e instanceof Forbidden &&
      /only an admin may forward a port that a service on the hub uses/.test(e.message),
  );
  assert.equal(text(), before);
  const ok = await s.addForward(rpi, { port: 8444, targetPort: 9443 });
  assert.equal(ok?.name, "rpi-tcp-8444");
});

test("hub daemon: an admin (and root) is told how to force; forced, the spec records it", async (t) => {
  const { s, text } = await service(t);
  for (const who of [boss, { kind: "root" } as const]) {
    await assert.rejects(s.addForward(who, { port: "8000-9000", peer: "rpi" }), (e: Error) => {
      assert.ok(e instanceof Conflict);
      assert.match(
        e.message,
        /^port: tcp\/8443 is in use on the hub: python3 \(pid 812\) listens on 0\.0\.0\.0:8443; .* force it: --shadow-hub-service \(porthole expose, porthole forward add\), or shadowHubService: true on the forward in porthole.yaml$/,
      );
      return true;
    });
  }
  const f = await s.addForward(boss, { port: 8443, peer: "rpi", targetPort: 9443, shadowHubService: true });
  assert.equal(f?.shadowHubService, true);
  assert.match(text(), /shadowHubService: true/);
});

test("hub daemon: the hub's own ports (WireGuard, SSH) are refused by the spec's check in its words, not as a shadowed service", async (t) => {
  const { s, host } = await service(t);
  host.listeners = parseSs(SS);
  for (const who of [rpi, boss]) {
    await assert.rejects(s.addForward(who, { port: 51820, proto: "udp", peer: "rpi" }), (e: Error) => {
      assert.match(e.message, /port: 51820 is the hub's WireGuard listen port; pick another public port/);
      assert.doesNotMatch(e.message, /in use on the hub/);
      return true;
    });
  }
});
