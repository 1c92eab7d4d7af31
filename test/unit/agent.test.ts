// The peer agent's tick against a hub on loopback (node:http playing the hub's API) and the fake host:
// what it fetches, applies, logs and reports when the hub serves a spec this version cannot load.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { runPeer } from "../../src/peer/agent.ts";
import { specHash } from "../../src/protocol/spec-hash.ts";
import { fakeHost } from "../support/fake-host.ts";

const KEY = "/etc/porthole/private.key";
const PEER_KEY = generatePrivateKey();
const SPEC = `version: 1
hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(generatePrivateKey())}
  publicInterface: ens3
peers:
  - name: rpi
    publicKey: ${publicKeyOf(PEER_KEY)}
    address: 10.8.0.2
forwards: []
`;
/** A spec from a newer hub: a field this version's schema refuses. */
const newer = (n: number) => SPEC.replace("forwards: []", `forwards: []\nfutureField: ${n}`);

const body = (req: IncomingMessage) =>
  new Promise<string>((r) => {
    let s = "";
    req.on("data", (c) => {
      s += c;
    });
    req.on("end", () => r(s));
  });

test("a hub spec this version cannot load is fetched, logged and reported once, not every tick; a changed one again", async (t) => {
  let served = newer(1);
  // In an object: TypeScript would narrow a `let` assigned only in the server's callback to null.
  const hub: { record: { specHash: string; error: string | null } | null } = { record: null };
  const gets: string[] = [];
  const server = createServer(async (req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/v1/whoami")
      return res.end(
        JSON.stringify({ kind: "peer", name: "rpi", specHash: specHash(served), applied: hub.record }),
      );
    if (req.url === "/v1/spec") {
      gets.push(specHash(served));
      res.setHeader("content-type", "text/yaml");
      return res.end(served);
    }
    if (req.url === "/v1/applied" && req.method === "POST") {
      const r = JSON.parse(await body(req)) as { specHash: string; error: string | null };
      hub.record = { specHash: r.specHash, error: r.error };
      return res.end("{}");
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ error: `no ${req.url}` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const host = fakeHost({ [KEY]: PEER_KEY, "/etc/porthole/porthole.yaml": SPEC });
  host.fileMap.set("/var/lib/porthole/peer.json", JSON.stringify({ name: "rpi", api }));
  const logs: string[] = [];
  const agent = await runPeer(
    { host, keyFile: KEY, stateDir: "/var/lib/porthole", root: "/tmp/none", bin: "porthole" },
    "/etc/porthole",
    { name: "rpi", api },
    { intervalMs: 3_600_000, nudge: false, log: (l) => logs.push(l) },
  );
  t.after(() => agent.stop());
  assert.ok(host.ifaces.has("wg0"), "the local spec is applied at start");

  for (let i = 0; i < 12; i++) await agent.tick();
  const told = () => logs.filter((l) => /the hub's spec does not load here/.test(l));
  assert.deepEqual(gets, [specHash(newer(1))], "fetched once");
  assert.equal(told().length, 1, logs.join("\n"));
  assert.equal(hub.record?.specHash, specHash(newer(1)));
  assert.match(
    hub.record?.error ?? "",
    /does not load here .*futureField/s,
    "the hub keeps hearing it failed",
  );
  assert.equal(host.fileMap.get("/etc/porthole/porthole.yaml"), SPEC, "the spec applied before stays");

  served = newer(2);
  for (let i = 0; i < 3; i++) await agent.tick();
  assert.deepEqual(gets, [specHash(newer(1)), specHash(newer(2))], "a changed spec is fetched again");
  assert.equal(told().length, 2);
  assert.equal(hub.record?.specHash, specHash(newer(2)));

  served = SPEC.replace("forwards: []", "forwards: []\n# a comment: a spec this version loads");
  await agent.tick();
  await agent.tick();
  assert.equal(hub.record?.specHash, specHash(served), "applied and reported once it loads");
  assert.equal(hub.record?.error, null);
  assert.equal(host.fileMap.get("/etc/porthole/porthole.yaml"), served);
});

test("a spec `porthole expose` applied here and told the hub of is the agent's record, not applied again; one it did not is applied", async (t) => {
  // The local copy gains a transparent forward (its apply loads the peer's nft table), as expose writes it.
  const exposed = SPEC.replace(
    "forwards: []",
    "forwards:\n  - { name: web, port: 443, peer: rpi, targetPort: 8443, mode: transparent }",
  );
  for (const told of [true, false]) {
    const hub: { record: { specHash: string; error: string | null } | null } = { record: null };
    const server = createServer(async (req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/whoami")
        return res.end(
          JSON.stringify({ kind: "peer", name: "rpi", specHash: specHash(exposed), applied: hub.record }),
        );
      if (req.url === "/v1/applied") {
        const r = JSON.parse(await body(req)) as { specHash: string; error: string | null };
        hub.record = { specHash: r.specHash, error: r.error };
        return res.end("{}");
      }
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const host = fakeHost({ [KEY]: PEER_KEY, "/etc/porthole/porthole.yaml": SPEC });
    host.fileMap.set("/var/lib/porthole/peer.json", JSON.stringify({ name: "rpi", api }));
    const agent = await runPeer(
      { host, keyFile: KEY, stateDir: "/var/lib/porthole", root: "/tmp/none", bin: "porthole" },
      "/etc/porthole",
      { name: "rpi", api },
      { intervalMs: 3_600_000, nudge: false, log: () => {} },
    );
    t.after(() => agent.stop());
    await agent.tick();
    // `porthole expose`: the hub's spec written here, applied by the command, reported (or not).
    host.fileMap.set("/etc/porthole/porthole.yaml", exposed);
    if (told) hub.record = { specHash: specHash(exposed), error: null };
    host.calls.length = 0;
    await agent.tick();
    await agent.tick();
    const applies = host.calls.filter((c) => c.startsWith("nft"));
    if (told) assert.deepEqual(applies, [], "applied again after the command");
    else assert.ok(applies.length > 0, "the agent applies a spec nobody told the hub of");
    assert.deepEqual(hub.record, { specHash: specHash(exposed), error: null });
  }
});
