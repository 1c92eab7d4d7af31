// The hub's day-to-day operations in-process over the fake host (issue 9 §3, §5, §6): join tokens are
// listed, revoked and refused for names the hub would refuse; an invalid hand-edited spec keeps the
// live state visible; a change is idempotent by request id.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type TestContext, test } from "node:test";
import { hostFiles } from "../../src/host/files.ts";
import { hubApi } from "../../src/hub/api.ts";
import { watchLoop } from "../../src/hub/daemon.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { hubRequest } from "../../src/peer/client.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const SPEC = `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
peers:
  - name: rpi
    publicKey: "${publicKeyOf(generatePrivateKey())}"
    address: 10.8.0.2
forwards:
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080
`;

async function hub(t: TestContext, text = SPEC) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-ops-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const specFile = join(dir, "porthole.yaml");
  writeFileSync(specFile, text);
  const host: FakeHost = fakeHost({ "/k": hubKey });
  const service = new HubService(
    { host, keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" },
    new SpecStore(hostFiles, specFile, dir),
  );
  await service.reconcile();
  const api = hubApi(service, "unix");
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await api.request(path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return { service, host, specFile, call };
}

const wgPeers = (h: FakeHost) => (h.ifaces.get("wg0")?.peers ?? []).map((p) => p.allowedIps.join(","));

test("pending join tokens are listed with their expiry; peer rm revokes one and its enrollment key goes", async (t) => {
  const { call, host } = await hub(t);
  const made = await call("POST", "/v1/tokens", { name: "nas", expiresSeconds: 3600 });
  assert.equal(made.status, 201);
  assert.ok(wgPeers(host).includes("10.8.0.254/32"), "the hub carries the enrollment key");
  const listed = await call("GET", "/v1/tokens");
  assert.deepEqual(listed.body, [{ name: "nas", admin: false, expires: made.body.expires, expired: false }]);

  const rm = await call("DELETE", "/v1/peers/nas");
  assert.equal(rm.status, 200);
  assert.equal(rm.body.revokedToken, true);
  assert.deepEqual((await call("GET", "/v1/tokens")).body, []);
  assert.ok(!wgPeers(host).includes("10.8.0.254/32"), "the revoked token's key is still on wg0");
  const again = await call("DELETE", "/v1/peers/nas");
  assert.equal(again.status, 404);
  assert.match(again.body.error, /no peer or pending join token named "nas"/);
});

test("a token is refused for a name the hub would refuse at enrollment, and nothing is kept", async (t) => {
  const { call } = await hub(t);
  for (const [name, why] of [
    ["Bad_Name", /name: "Bad_Name" is not a valid name; use 1-32 lowercase letters/],
    ["hub", /name: "hub" is the hub's name; pick another/],
    ["rpi", /^a peer named "rpi" exists already \(`porthole peer rm rpi` first, to make it join again\)$/],
  ] as const) {
    const r = await call("POST", "/v1/tokens", { name, expiresSeconds: 3600 });
    assert.ok(r.status === 400 || r.status === 409, `${name}: ${r.status}`);
    assert.match(r.body.error, why);
  }
  assert.deepEqual((await call("GET", "/v1/tokens")).body, []);
});

test("a second token or a device for a name with a pending token: refused, saying until when and how to make a new one", async (t) => {
  const { call } = await hub(t);
  const made = await call("POST", "/v1/tokens", { name: "nas", expiresSeconds: 3600 });
  assert.equal(made.status, 201);
  const want = `"nas" has a pending join token already (until ${made.body.expires}): \`porthole peer rm nas\` revokes it, then add it again for a new one`;
  const again = await call("POST", "/v1/tokens", { name: "nas", expiresSeconds: 3600 });
  assert.equal(again.status, 409);
  assert.equal(again.body.error, want);
  const device = await call("POST", "/v1/peers", { name: "nas", device: true });
  assert.equal(device.status, 409);
  assert.equal(device.body.error, want);
});

test("a hand edit with a YAML error: live state stays visible, metrics serve with porthole_spec_valid 0, changes are refused, the watch logs it once", async (t) => {
  const { call, service, host, specFile } = await hub(t);
  const logs: string[] = [];
  const tick = await watchLoop(
    service,
    (l) => logs.push(l),
    async () => {},
  );
  // The kernel counts web's port (a port without its counter would be unknown: no series).
  host.counters.set("set opened_tcp", [{ key: "80", packets: 0, bytes: 0 }]);
  writeFileSync(specFile, `${SPEC}  - name: [broken\n`);
  const before = JSON.stringify([...host.ifaces]);
  host.calls.length = 0;

  const status = await call("GET", "/v1/status");
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.deepEqual(
    status.body.forwards.map((f: { name: string }) => f.name),
    ["web"],
  );
  const peers = await call("GET", "/v1/peers");
  assert.equal(peers.status, 200);
  assert.deepEqual(
    peers.body.map((p: { name: string }) => p.name),
    ["rpi"],
  );
  const metrics = await hubApi(service, "unix").request("/metrics");
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  assert.match(text, /^porthole_spec_valid 0$/m);
  assert.match(text, /^porthole_forward_connections_total\{forward="web",peer="rpi"\} /m);

  const add = await call("POST", "/v1/forwards", { name: "dns", proto: "udp", port: 53, peer: "rpi" });
  assert.equal(add.status, 409);
  assert.match(
    add.body.error,
    /the hub's spec file cannot be used \(an error in it, or it is missing\), so no change is possible until it is fixed/,
  );

  for (let i = 0; i < 3; i++) await tick();
  assert.equal(logs.filter((l) => /cannot be used/.test(l)).length, 1, logs.join("\n"));
  assert.deepEqual(
    host.calls.filter((c) => !c.startsWith("write")),
    [],
    "nothing applied while the spec is invalid",
  );
  assert.equal(JSON.stringify([...host.ifaces]), before);

  writeFileSync(specFile, SPEC);
  await tick();
  await tick();
  assert.equal(logs.filter((l) => /is valid again/.test(l)).length, 1);
  assert.match(await (await hubApi(service, "unix").request("/metrics")).text(), /^porthole_spec_valid 1$/m);
});

test("the watch tells a spec file edited outside the API (applied) from the kernel drifting (repaired)", async (t) => {
  const { service, host, specFile } = await hub(t);
  const logs: string[] = [];
  const tick = await watchLoop(
    service,
    (l) => logs.push(l),
    async () => {},
  );
  await tick();
  assert.deepEqual(logs, [], "nothing to do");
  writeFileSync(specFile, SPEC.replace("targetPort: 8080", "targetPort: 8081"));
  await tick();
  assert.equal(logs.length, 1, logs.join("\n"));
  assert.match(logs[0] ?? "", new RegExp(`^applied ${specFile}, changed since the last apply:\n  ~ `));
  // The interface deleted behind the daemon's back: that is drift.
  host.ifaces.delete("wg0");
  await tick();
  assert.equal(logs.length, 2, logs.join("\n"));
  assert.match(logs[1] ?? "", /^repaired drift:\n/);
});

test("a daemon started on an invalid spec file runs on the spec applied last", async (t) => {
  const { call, specFile, service } = await hub(t);
  writeFileSync(specFile, "hub: [\n");
  // A fresh process (the in-process CLI, a restarted daemon) has no valid spec of its own in memory.
  const fresh = new HubService(service.ctx, new SpecStore(hostFiles, specFile, service.ctx.stateDir));
  const s = await fresh.statusFor({ kind: "root" }, false);
  assert.deepEqual(
    s.peers.map((p) => p.name),
    ["rpi"],
  );
  assert.match((await fresh.specProblem()) ?? "", /porthole\.yaml/);
  assert.equal((await call("GET", "/v1/peers")).status, 200);
});

test("a change with a request id happens once: the same id gets the first answer, and the hub says what became of it", async (t) => {
  const { call, service } = await hub(t);
  const dns = { name: "dns", proto: "udp", port: 53, peer: "rpi" };
  const id = { "x-request-id": "req-0123456789" };
  const [a, b] = await Promise.all([
    call("POST", "/v1/forwards", dns, id),
    call("POST", "/v1/forwards", dns, id),
  ]);
  assert.equal(a.status, 201);
  assert.deepEqual(b, a);
  const c = await call("POST", "/v1/forwards", dns, id);
  assert.deepEqual(c, a, "a repeat after the change is answered as the first time");
  assert.equal((await service.forwards({ kind: "root" })).filter((f) => f.name === "dns").length, 1);
  assert.deepEqual((await call("GET", "/v1/requests/req-0123456789")).body, {
    state: "done",
    status: 201,
    body: a.body,
  });
  assert.deepEqual((await call("GET", "/v1/requests/req-never-sent")).body, { state: "unknown" });
  // Without an id a repeat is a new request, refused because the forward exists.
  const repeat = await call("POST", "/v1/forwards", dns);
  assert.equal(repeat.status, 400);
  assert.match(repeat.body.error, /dns/);
});

test("the client does not report a change as failed when its answer is slow or lost: it asks the hub", async (t) => {
  const outcomes = new Map<string, string>();
  let posts = 0;
  const server = createServer((req, res) => {
    const id = String(req.headers["x-request-id"] ?? "");
    if (req.method === "GET" && req.url?.startsWith("/v1/requests/")) {
      const done = outcomes.get(req.url.slice("/v1/requests/".length));
      res.end(
        JSON.stringify(done ? { state: "done", status: 201, body: JSON.parse(done) } : { state: "unknown" }),
      );
      return;
    }
    posts++;
    if (posts === 1) {
      req.socket.destroy(); // lost before the hub saw it: the client sends it again, same id
      return;
    }
    // A slow apply: the answer comes after the client's timeout; the change happens all the same.
    setTimeout(() => {
      const body = JSON.stringify({ name: "web", id });
      outcomes.set(id, body);
      if (!res.destroyed) res.end(body);
    }, 700);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const r = (await hubRequest(`http://127.0.0.1:${port}`, "POST", "/v1/forwards", { port: 80 }, 300)) as {
    name: string;
    id: string;
  };
  assert.equal(r.name, "web");
  assert.match(r.id, /^[0-9a-f-]{36}$/);
  assert.equal(posts, 2, "sent again once after it was lost, with the same id");
});

test("a port with surrounding whitespace is that port (not part of a generated name)", async (t) => {
  const { call } = await hub(t);
  const r = await call("POST", "/v1/forwards", { port: " 8081 ", peer: "rpi", targetPort: " 9081" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.name, "rpi-tcp-8081");
  assert.equal(r.body.port, "8081");
  assert.equal(r.body.targetPort, "9081");
});

test("the spec file removed by hand: the hub runs on its last spec, refuses changes, says how to put it back (not `hub init`), and that command does", async (t) => {
  const { call, service, host, specFile } = await hub(t);
  // The record the apply wrote (the fake host keeps it in memory), where the real one would be.
  const record = join(dirname(specFile), "applied.json");
  writeFileSync(record, host.fileMap.get(record) ?? "");
  const logs: string[] = [];
  const tick = await watchLoop(
    service,
    (l) => logs.push(l),
    async () => {},
  );
  rmSync(specFile);
  const problem = await service.specProblem();
  assert.ok(problem, "a missing spec file is a problem");
  assert.match(problem, /porthole\.yaml is missing \(removed or moved by hand\?\)/);
  assert.doesNotMatch(problem, /hub init/);
  const status = await call("GET", "/v1/status");
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.deepEqual(
    status.body.forwards.map((f: { name: string }) => f.name),
    ["web"],
  );
  const add = await call("POST", "/v1/forwards", { name: "dns", proto: "udp", port: 53, peer: "rpi" });
  assert.equal(add.status, 409, JSON.stringify(add.body));
  // Said as what it is: no error is in a file that is not there.
  assert.doesNotMatch(add.body.error, /has errors/);
  assert.match(add.body.error, /^the hub's spec file cannot be used \(an error in it, or it is missing\)/);
  for (let i = 0; i < 3; i++) await tick();
  assert.equal(logs.filter((l) => /is missing/.test(l)).length, 1, logs.join("\n"));
  assert.ok(!logs.some((l) => /hub init/.test(l)), logs.join("\n"));
  // The command it names, run as a person would paste it.
  const restore = /`(node -e .+)` puts it back/.exec(problem)?.[1];
  assert.ok(restore, problem);
  execFileSync("sh", ["-c", restore]);
  assert.equal(readFileSync(specFile, "utf8"), SPEC);
  assert.equal(await service.specProblem(), null);
});

test("a peer whose name takes all 32 characters gets forwards without --name: the made name is cut to fit, not refused", async (t) => {
  const long = "grandmas-raspberry-pi-living-rm1";
  assert.equal(long.length, 32);
  const { call } = await hub(
    t,
    SPEC.replace(
      "forwards:",
      `  - name: ${long}\n    publicKey: "${publicKeyOf(generatePrivateKey())}"\nforwards:`,
    ),
  );
  const one = await call("POST", "/v1/forwards", { port: 8081, peer: long });
  assert.equal(one.status, 201, JSON.stringify(one.body));
  assert.equal(one.body.name, "grandmas-raspberry-pi-l-tcp-8081");
  const range = await call("POST", "/v1/forwards", { port: "6000-6010", proto: "tcp+udp", peer: long });
  assert.equal(range.status, 201, JSON.stringify(range.body));
  assert.equal(range.body.name, "grandmas-raspb-tcp-udp-6000-6010");
  for (const n of [one.body.name, range.body.name]) assert.ok(n.length <= 32, n);
});

test("a forward for a peer whose join token is pending says it has not joined yet, not that it is no peer", async (t) => {
  const { call } = await hub(t);
  assert.equal((await call("POST", "/v1/tokens", { name: "nas", expiresSeconds: 3600 })).status, 201);
  const r = await call("POST", "/v1/forwards", { port: 8090, peer: "nas" });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(
    r.body.error,
    /^peer: "nas" has not joined yet \(its join token is pending until \S+Z\): add its forwards once `porthole join` ran there/,
  );
  assert.equal(r.body.field, "peer");
  const none = await call("POST", "/v1/forwards", { port: 8090, peer: "nobody" });
  assert.equal(none.status, 400);
  assert.match(none.body.error, /"nobody" is not a peer in this spec; known peers: rpi/);
});

test("a change whose apply fails is not kept in the spec: the host and the file are as before, and the next change applies", async (t) => {
  const { call, host, specFile } = await hub(t);
  const before = readFileSync(specFile, "utf8");
  host.failOn = "nft"; // the patch (and the reload) of the ruleset fails, as nft refusing an element does
  const failed = await call("POST", "/v1/forwards", { port: 8206, peer: "rpi" });
  assert.equal(failed.status, 500, JSON.stringify(failed.body));
  assert.match(failed.body.error, /injected failure in nft/);
  assert.equal(readFileSync(specFile, "utf8"), before, "the failed forward stayed in the spec");
  host.failOn = undefined;
  const next = await call("POST", "/v1/forwards", { port: 8207, peer: "rpi" });
  assert.equal(next.status, 201, JSON.stringify(next.body));
  const text = readFileSync(specFile, "utf8");
  assert.match(text, /port: 8207/);
  assert.doesNotMatch(text, /8206/);
});

test("a port with leading zeros is that port: its generated name, the spec's number, and a second add finds it", async (t) => {
  const { call, specFile } = await hub(t);
  const r = await call("POST", "/v1/forwards", { port: "0444", peer: "rpi", targetPort: "09000" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.name, "rpi-tcp-444");
  assert.equal(r.body.port, "444");
  assert.equal(r.body.targetPort, "9000");
  const text = readFileSync(specFile, "utf8");
  assert.match(text, /^ {4}port: 444$/m, 'written as the number a person writes, not "0444" or "444"');
  assert.match(text, /^ {4}targetPort: 9000$/m);
  const range = await call("POST", "/v1/forwards", { port: "06000-06001", peer: "rpi", proto: "udp" });
  assert.equal(range.status, 201, JSON.stringify(range.body));
  assert.equal(range.body.name, "rpi-udp-6000-6001");
  const again = await call("POST", "/v1/forwards", { port: 444, peer: "rpi", targetPort: 9000 });
  assert.equal(again.status, 400, JSON.stringify(again.body));
  assert.match(again.body.error, /already forwarded/);
});

test("the watch queues peer events for the webhook in order and does not wait for a receiver that does not answer", async (t) => {
  const { service, host } = await hub(t);
  const sent: string[] = [];
  let answer = () => {};
  const held = new Promise<void>((r) => {
    answer = r;
  });
  // The first event's POST hangs (a receiver that never answers) until `answer()`.
  const tick = await watchLoop(
    service,
    () => {},
    async (event, detail) => {
      sent.push(`${event} ${detail.peer}`);
      if (sent.length === 1) await held;
    },
  );
  const rpi = /publicKey: "(.+)"/.exec(SPEC)?.[1] as string;
  const now = Math.floor(Date.now() / 1000);
  host.peerStats.set(rpi, { latestHandshake: now - 1, rxBytes: 1, txBytes: 1 });
  await tick(); // returns while the receiver holds the first event
  host.peerStats.set(rpi, { latestHandshake: now - 3600, rxBytes: 1, txBytes: 1 });
  await tick();
  assert.deepEqual(sent, ["peer_online rpi"], "the second event waits behind the first");
  answer();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(sent, ["peer_online rpi", "peer_offline rpi"]);
});

test("the watch reads the peers' handshakes once a round: from its reconcile's look when nothing changed, read again after a repair", async (t) => {
  const { service, host } = await hub(t);
  const logs: string[] = [];
  const tick = await watchLoop(
    service,
    (l) => logs.push(l),
    async () => {},
  );
  let reads = 0;
  const wgPeers = host.stats.wgPeers;
  host.stats.wgPeers = (iface) => {
    reads++;
    return wgPeers(iface);
  };
  const rpi = /publicKey: "(.+)"/.exec(SPEC)?.[1] as string;
  host.peerStats.set(rpi, { latestHandshake: Math.floor(Date.now() / 1000) - 1, rxBytes: 1, txBytes: 1 });
  await tick();
  assert.equal(reads, 0, "the reconcile's look had them");
  assert.deepEqual(logs, ["peer rpi is online"], "and they are the host's now");
  // The interface deleted: the reconcile's look was of the host before its repair.
  host.ifaces.delete("wg0");
  await tick();
  assert.equal(reads, 1, logs.join("\n"));
  assert.match(logs[1] ?? "", /^repaired drift:\n/);
});
