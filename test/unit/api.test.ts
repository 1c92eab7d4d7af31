// The hub's API in-process (app.request) over the fake host: who may do what, what each caller sees,
// body and concurrency limits, and the per-peer quotas (issue 9 items 12-14).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import { compile } from "../../src/compile/compile.ts";
import { hostFiles } from "../../src/host/files.ts";
import { API_SERVER_OPTIONS, BODY_LIMIT, hubApi, PER_SOURCE } from "../../src/hub/api.ts";
import { AppliedLog } from "../../src/hub/applied.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { parseCidr } from "../../src/net/ip.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { specHash } from "../../src/protocol/spec-hash.ts";
import type { FirewallFinding, HubStatus } from "../../src/protocol/status.ts";
import { allocateAddresses } from "../../src/spec/allocate.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const key = () => publicKeyOf(generatePrivateKey());
const KEYS = { rpi: key(), nas: key(), boss: key() };

const SPEC = (extraHub = "") => `# the home network; nas is grandma's
hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
${extraHub}peers:
  - name: rpi
    publicKey: "${KEYS.rpi}"
    address: 10.8.0.2
  - name: nas
    publicKey: "${KEYS.nas}"
    address: 10.8.0.3
  - name: boss
    publicKey: "${KEYS.boss}"
    address: 10.8.0.4
    admin: true
forwards:
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080
  - name: secret-cam
    port: 8443
    peer: nas
    allowFrom: [198.51.100.7/32]
`;

type Who = "stranger" | "enrolling" | "peer" | "admin" | "root";
const WHO: Who[] = ["stranger", "enrolling", "peer", "admin", "root"];
const ADDRESS: Record<Who, string | undefined> = {
  stranger: "10.8.0.77",
  enrolling: "10.8.0.254", // the first join token's enrollment address (highest free)
  peer: "10.8.0.3", // nas: not an admin
  admin: "10.8.0.4", // boss
  root: undefined,
};

interface Hub {
  /** The fake host the hub runs on (its counters, for a status's numbers). */
  host: FakeHost;
  service: HubService;
  /** A join token for "newbie" (not an admin); its enrollment address is ADDRESS.enrolling. */
  token: string;
  specFile: string;
  /** A request as `who` (a tunnel address over TCP, or root's unix socket). */
  as(who: Who | string, method: string, path: string, body?: unknown, raw?: string): Promise<Response>;
}

async function hub(
  t: TestContext,
  text = SPEC(),
  opts: { perSource?: number; now?: () => number } = {},
): Promise<Hub> {
  const dir = mkdtempSync(join(tmpdir(), "porthole-api-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const specFile = join(dir, "porthole.yaml");
  writeFileSync(specFile, text);
  const host = fakeHost({ "/k": hubKey });
  const ctx = { host, keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" };
  const service = new HubService(ctx, new SpecStore(hostFiles, specFile, dir), opts.now);
  await service.reconcile();
  const { token } = await service.createToken({ kind: "root" }, { name: "newbie", expiresSeconds: 3600 });
  const tcp = hubApi(service, "tcp", opts);
  const unix = hubApi(service, "unix", opts);
  return {
    host,
    service,
    token,
    specFile,
    as: async (who, method, path, body, raw) => {
      const address = who in ADDRESS ? ADDRESS[who as Who] : who;
      const init = {
        method,
        headers: { "content-type": "application/json" },
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      };
      return address === undefined
        ? unix.request(path, init)
        : tcp.request(path, init, { incoming: { socket: { remoteAddress: address } } });
    },
  };
}

const FORWARD_DROP: FirewallFinding = {
  path: "forward",
  what: "forwards web, secret-cam",
  forwards: ["web", "secret-cam"],
  source: "nft",
  family: "inet",
  table: "firewalld",
  chain: "filter_FORWARD",
  ruleChain: "filter_FORWARD",
  rule: null,
  via: ["filter_FORWARD"],
  certain: true,
  passable: false,
  fix: ['nft insert rule inet firewalld filter_FORWARD oifname "wg0" accept'],
};

const STATUS: HubStatus = {
  hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
  peers: ["rpi", "nas", "boss"].map((name, i) => ({
    name,
    address: `10.8.0.${i + 2}`,
    online: true,
    handshakeAgeSeconds: 3,
    endpoint: `198.51.100.${i + 2}:4000`,
    rxBytes: 1,
    txBytes: 2,
    admin: name === "boss",
    kind: "agent",
  })),
  forwards: [
    ["web", "rpi"],
    ["secret-cam", "nas"],
  ].map(([name, peer]) => ({
    name: name as string,
    peer: peer as string,
    summary: `${name} summary`,
    mode: "snat",
    connectionsTotal: 1,
    packets: 2,
    bytes: 3,
    establishedConnections: 0,
    probeTarget: "10.8.0.2:80",
    reachable: true,
    probeAgeSeconds: 0,
    blockedBy: ["nft table inet firewalld chain filter_FORWARD (policy drop)"],
    working: false,
  })),
  firewall: [
    FORWARD_DROP,
    {
      ...FORWARD_DROP,
      path: "wireguard",
      what: "the WireGuard port udp/51820",
      forwards: [],
      chain: "boss-only",
    },
  ],
};

/** A fixed status with firewall findings, for the tests of what each caller may see of it. */
const stubStatus = (h: Hub) => {
  h.service.status = async () => structuredClone(STATUS);
};

// Every route, and what each caller gets. A write is made with a name of its own per caller.
const ROUTES: {
  route: string;
  request: (
    who: Who,
    h: Hub,
  ) =>
    | [method: string, path: string, body?: unknown]
    | Promise<[method: string, path: string, body?: unknown]>;
  expect: Record<Who, number>;
}[] = [
  {
    route: "GET /v1/whoami",
    request: () => ["GET", "/v1/whoami"],
    expect: { stranger: 403, enrolling: 200, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "GET /v1/spec",
    request: () => ["GET", "/v1/spec"],
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "GET /v1/peers",
    request: () => ["GET", "/v1/peers"],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 200, root: 200 },
  },
  {
    route: "POST /v1/peers",
    request: (who) => ["POST", "/v1/peers", { name: `p-${who}`, publicKey: key() }],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 201, root: 201 },
  },
  {
    route: "DELETE /v1/peers/:name",
    request: (who) => ["DELETE", `/v1/peers/${who === "admin" ? "rpi" : "nas"}`],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 200, root: 200 },
  },
  {
    route: "GET /v1/requests/:id",
    request: () => ["GET", "/v1/requests/req-0123456789"],
    expect: { stranger: 403, enrolling: 200, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "GET /v1/tokens",
    request: () => ["GET", "/v1/tokens"],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 200, root: 200 },
  },
  {
    route: "POST /v1/tokens",
    request: (who) => ["POST", "/v1/tokens", { name: `t-${who}` }],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 201, root: 201 },
  },
  {
    // Only through the tunnel of the token's own enrollment key (the others try a fresh token).
    route: "POST /v1/enroll",
    request: async (who, h) => [
      "POST",
      "/v1/enroll",
      {
        token:
          who === "enrolling"
            ? h.token
            : (await h.service.createToken({ kind: "root" }, { name: `e-${who}`, expiresSeconds: 600 }))
                .token,
        publicKey: key(),
      },
    ],
    expect: { stranger: 403, enrolling: 201, peer: 403, admin: 403, root: 403 },
  },
  {
    route: "GET /v1/forwards",
    request: () => ["GET", "/v1/forwards"],
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "POST /v1/forwards",
    request: (who) => [
      "POST",
      "/v1/forwards",
      { port: 9000 + WHO.indexOf(who), ...(who === "root" ? { peer: "rpi" } : {}) },
    ],
    expect: { stranger: 403, enrolling: 403, peer: 201, admin: 201, root: 201 },
  },
  {
    // nas (peer) removes its own; the admin removes rpi's; root removes nas's after the peer did: 404.
    route: "DELETE /v1/forwards/:name",
    request: (who) => ["DELETE", `/v1/forwards/${who === "admin" ? "web" : "secret-cam"}`],
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 404 },
  },
  {
    route: "GET /v1/status",
    request: () => ["GET", "/v1/status"],
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "POST /v1/apply",
    request: () => ["POST", "/v1/apply"],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 200, root: 200 },
  },
  {
    // No peer has shaken hands on the fake host: the answer comes at once, every port "unknown".
    route: "POST /v1/reachability",
    request: () => ["POST", "/v1/reachability", {}],
    expect: { stranger: 403, enrolling: 403, peer: 403, admin: 200, root: 200 },
  },
  {
    // A report nobody asked this caller for.
    route: "POST /v1/probes/:id",
    request: () => ["POST", "/v1/probes/nope", { address: null, via: null, handshake: null, results: [] }],
    expect: { stranger: 403, enrolling: 403, peer: 404, admin: 404, root: 404 },
  },
  {
    // A peer reports its own apply (the daemon takes reports); root has no agent to report for.
    route: "POST /v1/applied",
    request: (_, h) => {
      h.service.applied ??= new AppliedLog(0);
      return [
        "POST",
        "/v1/applied",
        { specHash: "0123456789abcdef", at: "2027-01-15T08:00:00Z", error: null, lastApplied: null },
      ];
    },
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 403 },
  },
  {
    route: "GET /v1/openapi.json",
    request: () => ["GET", "/v1/openapi.json"],
    expect: { stranger: 403, enrolling: 200, peer: 200, admin: 200, root: 200 },
  },
  {
    route: "GET /metrics",
    request: () => ["GET", "/metrics"],
    expect: { stranger: 403, enrolling: 403, peer: 200, admin: 200, root: 200 },
  },
];

test("authorization: every route answers each kind of caller as it should", async (t) => {
  const h = await hub(t);
  const served = hubApi(h.service, "tcp")
    .routes.filter((r) => r.method !== "ALL")
    .map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(ROUTES.map((r) => r.route).sort(), served.sort(), "the matrix covers every route");
  for (const { route, request, expect } of ROUTES) {
    await t.test(route, async (t) => {
      const h = await hub(t);
      stubStatus(h);
      const got: Record<string, number> = {};
      for (const who of WHO) {
        const [method, path, body] = await request(who, h);
        got[who] = (await h.as(who, method, path, body)).status;
      }
      assert.deepEqual(got, expect);
    });
  }
});

test("a peer that is not an admin gets its own part of the spec, which compiles to the same plan", async (t) => {
  // "early" takes rpi's hashed address slot, so rpi's allocated address depends on another peer.
  const subnet = parseCidr("10.8.0.0/24");
  assert.ok(subnet);
  const taken = new Set([1n + subnet.base]);
  const alone = allocateAddresses(subnet, ["rpi"], taken)[0]?.value;
  let early = "";
  for (let i = 0; !early; i++)
    if (allocateAddresses(subnet, [`p${i}`], taken)[0]?.value === alone) early = `p${i}`;
  const text = `hub:
  endpoint: vps.example.com
  publicKey: ${publicKeyOf(hubKey)}
  subnet6: fd00:8::/64
  sshPort: 2222
peers:
  - { name: ${early}, publicKey: "${KEYS.nas}" }
  - { name: rpi, publicKey: "${KEYS.rpi}" }
forwards:
  - { name: web, port: 80, peer: rpi, targetPort: 8080, mode: transparent }
  - { name: ssh, port: 22, peer: rpi }
  - { name: theirs, port: 81, peer: ${early}, allowFrom: [192.0.2.0/24] }
`;
  const h = await hub(t, text);
  const full = loadSpec(text);
  assert.ok(full.ok);
  const res = await h.as("10.8.0.2", "GET", "/v1/whoami");
  assert.equal(res.status, 403, "rpi is not at the address it would have alone");
  const rpi = full.spec.peers.find((p) => p.name === "rpi");
  assert.ok(rpi);
  const from = `10.8.0.${Number(rpi.address.value & 0xffn)}`;
  const view = await (await h.as(from, "GET", "/v1/spec")).text();
  for (const secret of [KEYS.nas, early, "theirs", "192.0.2.0"]) assert.ok(!view.includes(secret), secret);
  const mine = loadSpec(view);
  assert.ok(mine.ok, mine.ok ? "" : mine.report);
  assert.deepEqual(
    mine.spec.peers.map((p) => p.name),
    ["rpi"],
  );
  assert.deepEqual(compile(mine.spec, "rpi"), compile(full.spec, "rpi"));
  const who = (await (await h.as(from, "GET", "/v1/whoami")).json()) as { specHash: string };
  assert.equal(who.specHash, specHash(view), "the peer agent compares the hash with its copy");
});

test("a peer's spec hash changes with its own part only; enrollment hands out the own part", async (t) => {
  const h = await hub(t);
  const hash = async () =>
    ((await (await h.as("10.8.0.2", "GET", "/v1/whoami")).json()) as { specHash: string }).specHash;
  const before = await hash();
  assert.equal((await h.as("peer", "POST", "/v1/forwards", { port: 9100 })).status, 201);
  assert.equal(await hash(), before, "nas's new forward is none of rpi's business");
  assert.equal((await h.as("10.8.0.2", "POST", "/v1/forwards", { port: 9101 })).status, 201);
  assert.notEqual(await hash(), before);
  // A new peer gets its own part from enrollment: no other peer's key, no forward, no comment.
  const body = { token: h.token, publicKey: key() };
  assert.equal((await h.as("peer", "POST", "/v1/enroll", body)).status, 403, "only through its own tunnel");
  const enrolled = await h.as("enrolling", "POST", "/v1/enroll", body);
  assert.equal(enrolled.status, 201);
  const { spec } = (await enrolled.json()) as { spec: string };
  const loaded = loadSpec(spec);
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.report);
  assert.deepEqual(
    loaded.spec.peers.map((p) => p.name),
    ["newbie"],
  );
  assert.deepEqual(loaded.spec.forwards, []);
  for (const secret of [...Object.values(KEYS), "grandma", "secret-cam"]) assert.ok(!spec.includes(secret));
  assert.equal((await h.as("enrolling", "POST", "/v1/enroll", body)).status, 409, "a token works once");
  // The admin sees everything, comments included.
  assert.equal(await (await h.as("admin", "GET", "/v1/spec")).text(), readFileSync(h.specFile, "utf8"));
});

test("enrollment: an altered, expired or forgotten token is refused with a reason, and nothing changes", async (t) => {
  let now = Date.now();
  const h = await hub(t, SPEC(), { now: () => now });
  const before = readFileSync(h.specFile, "utf8");
  const enroll = async (token: string) => {
    const r = await h.as("enrolling", "POST", "/v1/enroll", { token, publicKey: key() });
    return { status: r.status, ...((await r.json()) as { error?: string; field?: string }) };
  };
  const [head, payload, sum, mac] = h.token.split(".");
  const altered = await enroll(
    `${head}.${payload}.${sum}.${mac?.replace(/^./, (c) => (c === "A" ? "B" : "A"))}`,
  );
  assert.deepEqual(altered, {
    status: 403,
    error: "this token was not made by this hub, or was altered",
    field: "token",
  });
  now += 3601_000;
  assert.deepEqual(await enroll(h.token), {
    status: 410,
    error: "this token has expired; ask for a new one",
    field: "token",
  });
  assert.equal(readFileSync(h.specFile, "utf8"), before);
  // Once pruned, the hub has forgotten it (and its enrollment address is a stranger again).
  await h.service.pruneTokens();
  assert.equal(
    (await h.as("enrolling", "POST", "/v1/enroll", { token: h.token, publicKey: key() })).status,
    403,
  );
  assert.deepEqual(
    await (await h.as("root", "POST", "/v1/enroll", { token: h.token, publicKey: key() })).json(),
    { error: "this token is unknown here (revoked, or used and forgotten)", field: "token" },
  );
});

test("status and metrics of a peer that is not an admin hold only its own peer and forwards", async (t) => {
  const h = await hub(t);
  stubStatus(h);
  const s = (await (await h.as("peer", "GET", "/v1/status")).json()) as HubStatus;
  assert.deepEqual(
    s.peers.map((p) => p.name),
    ["nas"],
  );
  assert.deepEqual(
    s.forwards.map((f) => f.name),
    ["secret-cam"],
  );
  const metrics = await (await h.as("peer", "GET", "/metrics")).text();
  assert.match(metrics, /^porthole_peer_up\{peer="nas"\} 1$/m);
  assert.match(metrics, /^porthole_forward_bytes_total\{forward="secret-cam",peer="nas"\} 3$/m);
  assert.doesNotMatch(metrics, /rpi|boss|web/);
  assert.match(metrics, /^porthole_firewall_drop\{path="forward",.*forwards="secret-cam"\} 1$/m);
  assert.deepEqual(
    s.firewall.map((f) => [f.what, f.forwards]),
    [["forward secret-cam", ["secret-cam"]]],
    "only the part about its own forward",
  );
  const all = await (await h.as("admin", "GET", "/metrics")).text();
  assert.match(all, /^porthole_forward_bytes_total\{forward="web",peer="rpi"\} 3$/m);
  const forwards = (await (await h.as("peer", "GET", "/v1/forwards")).json()) as { name: string }[];
  assert.deepEqual(
    forwards.map((f) => f.name),
    ["secret-cam"],
  );
});

test("forward rm of a public port: an admin is told the forward's name on it; a peer nothing more", async (t) => {
  const h = await hub(t);
  const byPort = await h.as("root", "DELETE", "/v1/forwards/80");
  assert.equal(byPort.status, 404);
  assert.equal(
    ((await byPort.json()) as { error: string }).error,
    'no forward named "80"; 80 reads as a public port, and rm takes a forward\'s name: web (tcp/80 → rpi), e.g. `porthole forward rm web`',
  );
  const admin = await h.as("admin", "DELETE", "/v1/forwards/8440-8450");
  assert.match(((await admin.json()) as { error: string }).error, /: secret-cam \(tcp\/8443 → nas\), e\.g\./);
  const none = await h.as("root", "DELETE", "/v1/forwards/81");
  assert.match(((await none.json()) as { error: string }).error, /no forward takes public port 81 either/);
  const peer = await h.as("peer", "DELETE", "/v1/forwards/80");
  assert.deepEqual(await peer.json(), { error: 'no forward named "80"', field: "name" });
  assert.match(readFileSync(h.specFile, "utf8"), /name: web/, "nothing removed");
});

test("errors tell a peer nothing about other peers' forwards", async (t) => {
  const h = await hub(t);
  // "Not yours" and "no such" are one answer.
  const notMine = await h.as("peer", "DELETE", "/v1/forwards/web");
  const noSuch = await h.as("peer", "DELETE", "/v1/forwards/nope");
  assert.equal(notMine.status, 404);
  assert.equal(noSuch.status, 404);
  assert.deepEqual(
    await notMine.json(),
    JSON.parse(JSON.stringify(await noSuch.json()).replace("nope", "web")),
  );
  assert.match(readFileSync(h.specFile, "utf8"), /name: web/, "rpi's forward is still there");
  // A port or name another peer has: refused, without naming that forward, its peer or its place.
  for (const body of [{ port: 80 }, { name: "web", port: 9200 }, { port: "75-85", targetPort: "75-85" }]) {
    const r = await h.as("peer", "POST", "/v1/forwards", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const { error } = (await r.json()) as { error: string };
    assert.match(error, /already (forwarded|used) by another peer[;]?/);
    assert.doesNotMatch(error, /rpi|forwards\[|\(tcp\/80\)/, error);
  }
  // Clashing with its own forward, a peer is told which one, by name.
  const own = await h.as("peer", "POST", "/v1/forwards", { port: 8443, name: "again" });
  assert.match(((await own.json()) as { error: string }).error, /your forward "secret-cam" \(tcp\/8443\)/);
  // Naming another peer as the target is refused the same way whether it exists or not.
  const a = (await (await h.as("peer", "POST", "/v1/forwards", { port: 9300, peer: "rpi" })).json()) as {
    error: string;
  };
  const b = (await (await h.as("peer", "POST", "/v1/forwards", { port: 9300, peer: "ghost" })).json()) as {
    error: string;
  };
  assert.equal(a.error, b.error);
  assert.doesNotMatch(a.error, /rpi|ghost/);
});

test("an admin's refused forward names the forwards it clashes with by name, not by their place in the file", async (t) => {
  const h = await hub(t);
  const cases: [unknown, string][] = [
    [{ port: 80, peer: "rpi" }, 'port: tcp/80 is already forwarded by forward "web" (tcp/80)'],
    [{ name: "web", port: 9200, peer: "rpi" }, 'name: "web" is already used by forward "web"'],
  ];
  for (const [body, want] of cases) {
    const r = await h.as("admin", "POST", "/v1/forwards", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const { error } = (await r.json()) as { error: string };
    assert.ok(error.startsWith(want), error);
    assert.doesNotMatch(error, /forwards\[/, error);
  }
});

test("bodies are checked against the schema: unknown fields and wrong types are refused by name", async (t) => {
  const h = await hub(t);
  const cases: [unknown, RegExp, string][] = [
    [{ port: 9400, prot: "udp" }, /^prot: unknown field; did you mean proto\? accepted fields: /, "prot"],
    [
      { port: 9400, proto: "sctp" },
      /^proto: "sctp" is not accepted; use one of: tcp, udp, tcp\+udp$/,
      "proto",
    ],
    [
      { port: 9400, allowFrom: "10.0.0.0/8" },
      /^allowFrom: "10.0.0.0\/8" is not accepted; expected a list$/,
      "allowFrom",
    ],
    [{ port: 9400, allowFrom: [5] }, /^allowFrom\[0\]: 5 is not accepted; expected text$/, "allowFrom[0]"],
    [
      { port: 9400, allowFrom: ["192.0.2.0/24", "10.0.0.300/8"] },
      /^allowFrom\[1\]: "10\.0\.0\.300\/8" is not an address or prefix; expected e\.g\. 192\.0\.2\.0\/24/,
      "allowFrom[1]",
    ],
    [{}, /^port: nothing is not accepted; expected a port 1-65535 or a range like 6000-6010$/, "port"],
    // A spec field's value is refused by that field's schema, in the spec's words (spec/fields.ts).
    [
      { port: 99999 },
      /^port: 99999 is out of range; expected a port 1-65535 or a range like 6000-6010$/,
      "port",
    ],
    [
      { port: 9400, targetPort: "90-80" },
      /^targetPort: "90-80" is a reversed range; write it low-high, e\.g\. 80-90$/,
      "targetPort",
    ],
    [
      { port: 9400, name: "Web Site" },
      /^name: "Web Site" is not a valid name; use 1-32 lowercase letters/,
      "name",
    ],
    // A new forward's name may not read as a port: `unexpose 8080` means the port.
    [
      { port: 9400, name: "8080" },
      /^name: "8080" reads as a port \(`porthole unexpose 8080` means public port 8080\); give a name with a letter, e\.g\. web-8080$/,
      "name",
    ],
    [
      { port: 9400, peer: "Bad_Peer" },
      /^peer: "Bad_Peer" is not a valid name; use 1-32 lowercase letters/,
      "peer",
    ],
    [[1, 2], /^the request body must be a JSON object$/, ""],
  ];
  for (const [body, message, field] of cases) {
    const r = await h.as("peer", "POST", "/v1/forwards", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const reply = (await r.json()) as { error: string; field?: string; problems?: unknown };
    assert.match(reply.error, message);
    assert.equal(reply.field ?? "", field);
    // The refused field apart, for a client to name in its own words (the CLI: its argument).
    const apart = field ? [{ field, message: reply.error.slice(field.length + 2) }] : undefined;
    assert.deepEqual(reply.problems, apart);
  }
  const bad = await h.as("peer", "POST", "/v1/forwards", undefined, "{not json");
  assert.equal(bad.status, 400);
  // A name in the path is checked as one in a body is; malformed JSON anywhere is a 400, not a 500.
  for (const path of ["/v1/forwards/Web%20Site", "/v1/peers/Web%20Site"]) {
    const r = await h.as("root", "DELETE", path);
    assert.equal(r.status, 400, path);
    const why = `"Web Site" is not a valid name; use 1-32 lowercase letters, digits or '-', not starting or ending with '-'`;
    assert.deepEqual(await r.json(), {
      error: `name: ${why}`,
      field: "name",
      problems: [{ field: "name", message: why }],
    });
  }
  const reach = await h.as("root", "POST", "/v1/reachability", undefined, "{not json");
  assert.equal(reach.status, 400);
  const token = await h.as("root", "POST", "/v1/tokens", { name: "x", expiresSeconds: 10 });
  assert.equal(token.status, 400);
  assert.match(
    ((await token.json()) as { error: string }).error,
    /^expiresSeconds: 10 is not accepted; expected 60 to 604800 seconds \(1m to 7d\)$/,
  );
  assert.doesNotMatch(readFileSync(h.specFile, "utf8"), /9400/);
});

test("a body over the limit is refused with 413 and changes nothing", async (t) => {
  const h = await hub(t);
  const before = readFileSync(h.specFile, "utf8");
  const big = { port: 9500, allowFrom: Array.from({ length: BODY_LIMIT / 8 }, () => "10.0.0.0/8") };
  for (const who of ["peer", "admin", "root"] as Who[]) {
    const r = await h.as(who, "POST", "/v1/forwards", big);
    assert.equal(r.status, 413, who);
    assert.match(
      ((await r.json()) as { error: string }).error,
      /^the request is larger than the hub accepts \(8192 bytes\); a forward's allow-list is what grows: give fewer, wider prefixes/,
    );
  }
  // Without a content-length (streamed), too.
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode(" ".repeat(1024)));
      c.close();
    },
  });
  const app = hubApi(h.service, "unix");
  const r = await app.request("/v1/forwards", {
    method: "POST",
    body: stream,
    duplex: "half",
  } as RequestInit);
  assert.equal(r.status, 413);
  assert.equal(readFileSync(h.specFile, "utf8"), before);
});

test("more requests in flight from one peer than allowed get 429 with Retry-After; others are served", async (t) => {
  const h = await hub(t);
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let runs = 0;
  h.service.status = async () => {
    runs++;
    await gate;
    return structuredClone(STATUS);
  };
  const held = Array.from({ length: PER_SOURCE }, () => h.as("peer", "GET", "/v1/status"));
  await new Promise((r) => setTimeout(r, 20));
  const over = await h.as("peer", "GET", "/v1/whoami");
  assert.equal(over.status, 429);
  assert.equal(over.headers.get("retry-after"), "1");
  assert.match(((await over.json()) as { error: string }).error, /10\.8\.0\.3 has 4 requests in flight/);
  assert.equal((await h.as("10.8.0.2", "GET", "/v1/whoami")).status, 200, "another peer is served");
  assert.equal((await h.as("root", "GET", "/v1/whoami")).status, 200, "root's socket is not limited");
  release();
  for (const r of await Promise.all(held)) assert.equal(r.status, 200);
  assert.equal(runs, 1, "the four requests shared one status computation");
  assert.equal((await h.as("peer", "GET", "/v1/whoami")).status, 200, "slots are given back");
});

test("quotas: forwards, public ports and range size per peer; admins and root may exceed them", async (t) => {
  const limits = "  limits: { forwardsPerPeer: 3, portsPerPeer: 12, maxRangeWithoutAdmin: 8 }\n";
  const h = await hub(t, SPEC(limits));
  const add = async (who: Who, body: Record<string, unknown>) => {
    const r = await h.as(who, "POST", "/v1/forwards", body);
    return { status: r.status, ...((await r.json()) as { error?: string; field?: string }) };
  };
  // nas has 1 forward (1 port). A range of 9 is over maxRangeWithoutAdmin.
  const wide = await add("peer", { port: "7000-7008" });
  assert.equal(wide.status, 403);
  assert.equal(
    wide.error,
    "port: 7000-7008 spans 9 ports; a peer that is not an admin may forward ranges of up to 8 (hub.limits.maxRangeWithoutAdmin); ask an admin for more",
  );
  assert.equal(wide.field, "port");
  // tcp+udp 7000-7005 is 12 ports: with the 1 it has, 13 > 12.
  const ports = await add("peer", { port: "7000-7005", proto: "tcp+udp" });
  assert.equal(ports.status, 403);
  assert.match(
    ports.error ?? "",
    /^port: tcp\+udp\/7000-7005 would bring nas to 13 public ports \(counted per protocol\); hub\.limits\.portsPerPeer allows a peer that is not an admin 12;/,
  );
  assert.equal((await add("peer", { port: "7000-7004", proto: "tcp+udp" })).status, 201);
  assert.equal((await add("peer", { port: 7100 })).status, 201);
  const many = await add("peer", { port: 7101 });
  assert.equal(many.status, 403);
  assert.match(
    many.error ?? "",
    /^nas has 3 forwards, as many as hub\.limits\.forwardsPerPeer \(3\) allows a peer that is not an admin;/,
  );
  // An admin may exceed them, for itself or for nas; so may root.
  assert.equal((await add("admin", { port: "7200-7299", peer: "nas" })).status, 201);
  assert.equal((await add("admin", { port: "7300-7399" })).status, 201);
  assert.equal((await add("root", { port: 7400, peer: "nas" })).status, 201);
});

test("hub.limits: defaults, and exact diagnostics for bad values", () => {
  const ok = loadSpec(SPEC());
  assert.ok(ok.ok);
  assert.deepEqual(ok.spec.hub.limits, { forwardsPerPeer: 20, portsPerPeer: 100, maxRangeWithoutAdmin: 16 });
  const bad = loadSpec(
    SPEC("  limits: { forwardsPerPeer: -1, portsPerPeer: 1.5, maxRangeWithoutAdmin: 0, portz: 3 }\n"),
  );
  assert.ok(!bad.ok);
  assert.deepEqual(bad.report.split("\n"), [
    "porthole.yaml:5:13 hub.limits.forwardsPerPeer: -1 is out of range; accepted: 0-131070",
    "porthole.yaml:5:34 hub.limits.portsPerPeer: 1.5 is not accepted; expected a whole number",
    "porthole.yaml:5:53 hub.limits.maxRangeWithoutAdmin: 0 is out of range; accepted: 1-65535",
    "porthole.yaml:5:78 hub.limits.portz: unknown field; accepted fields: forwardsPerPeer, portsPerPeer, maxRangeWithoutAdmin",
  ]);
});

test("over TCP, a peer's request that trickles in is cut off (408) once the request time is up", async (t) => {
  const h = await hub(t);
  // The daemon's options with shorter times, so the test takes a second, not fifteen.
  const opts = {
    ...API_SERVER_OPTIONS,
    headersTimeout: 300,
    requestTimeout: 600,
    connectionsCheckingInterval: 100,
  };
  // A real TCP connection over loopback, which the API sees as from nas's tunnel address (10.8.0.3),
  // as it would through the tunnel: node's server times, not the identity, are under test.
  const api = hubApi(h.service, "tcp");
  const server = createAdaptorServer({
    fetch: (req: Request, env: HttpBindings | Http2Bindings) => {
      const socket = new Proxy((env.incoming as IncomingMessage).socket, {
        get: (s, k) => (k === "remoteAddress" ? "10.8.0.3" : Reflect.get(s, k)),
      });
      const incoming = new Proxy(env.incoming, {
        get: (m, k) => (k === "socket" ? socket : Reflect.get(m, k)),
      });
      return api.fetch(req, { ...env, incoming });
    },
    serverOptions: opts,
  }) as Server;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  const { port } = server.address() as AddressInfo;
  const answer = await new Promise<string>((resolve) => {
    const s = connect({ port, host: "127.0.0.1" }, () => {
      s.write(
        "POST /v1/forwards HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
      );
    });
    const drip = setInterval(() => s.writable && s.write(" "), 50);
    let got = "";
    s.on("data", (d) => {
      got += d;
    });
    s.on("close", () => {
      clearInterval(drip);
      resolve(got);
    });
    s.on("error", () => {});
  });
  assert.match(answer, /^HTTP\/1\.1 408 /);
});

test("reachability: the task rides in the chosen peer's whoami, its report is judged, others' reports are refused", async (t) => {
  const h = await hub(t);
  const host = h.service.ctx.host as ReturnType<typeof fakeHost>;
  // rpi and boss shook hands; rpi most recently, so it probes.
  const now = Math.floor(Date.now() / 1000);
  host.peerStats.set(KEYS.rpi, { latestHandshake: now - 3, rxBytes: 1, txBytes: 1 });
  host.peerStats.set(KEYS.boss, { latestHandshake: now - 60, rxBytes: 1, txBytes: 1 });
  const asked = h.as("root", "POST", "/v1/reachability", {});
  let task:
    | { id: string; host: string; targets: { proto: string; port: number; what: string }[] }
    | undefined;
  for (let i = 0; i < 50 && !task; i++) {
    const other = (await (await h.as("10.8.0.3", "GET", "/v1/whoami")).json()) as { probe?: unknown };
    assert.equal(other.probe, undefined, "nas was not asked");
    task = ((await (await h.as("10.8.0.2", "GET", "/v1/whoami")).json()) as { probe?: typeof task }).probe;
    if (!task) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(task, "rpi's whoami carries the task");
  assert.equal(task.host, "203.0.113.1");
  assert.deepEqual(
    task.targets.map((x) => `${x.proto}/${x.port} ${x.what}`),
    ["udp/51820 wireguard", "tcp/80 web", "tcp/8443 secret-cam"],
  );
  const report = {
    address: "203.0.113.1",
    via: "eth0",
    handshake: { ageS: 3, endpoint: "203.0.113.1:51820" },
    results: [
      { proto: "tcp", port: 80, result: "open" },
      { proto: "tcp", port: 8443, result: "timeout" },
    ],
  };
  assert.equal(
    (await h.as("10.8.0.3", "POST", `/v1/probes/${task.id}`, report)).status,
    404,
    "not nas's task",
  );
  assert.equal((await h.as("10.8.0.2", "POST", `/v1/probes/${task.id}`, report)).status, 200);
  const res = await asked;
  assert.equal(res.status, 200);
  const reply = (await res.json()) as {
    peer: string;
    findings: { port: number; status: string; found: string; fix?: string }[];
  };
  assert.equal(reply.peer, "rpi");
  assert.deepEqual(
    reply.findings.map((f) => [f.port, f.status]),
    [
      [51820, "ok"],
      [80, "ok"],
      [8443, "fail"],
    ],
  );
  assert.match(
    reply.findings[2]?.found ?? "",
    /tcp\/8443 \(secret-cam\) NOT reachable from the internet: rpi's connect to 203\.0\.113\.1:8443 got no answer/,
  );
  assert.match(reply.findings[2]?.fix ?? "", /allow tcp\/8443 inbound in the VPS provider's firewall/);
  assert.equal((await h.as("10.8.0.2", "POST", `/v1/probes/${task.id}`, report)).status, 404, "once only");
});

test("reachability: a peer that shook hands last but has sent nothing since (its tunnel broke) is not asked to probe; one still heard is, and with none the reply says why", async (t) => {
  let nowMs = Date.now();
  const h = await hub(t, SPEC(), { now: () => nowMs });
  const host = h.service.ctx.host as ReturnType<typeof fakeHost>;
  const now = Math.floor(nowMs / 1000);
  host.peerStats.set(KEYS.rpi, { latestHandshake: now - 3, rxBytes: 100, txBytes: 1 });
  host.peerStats.set(KEYS.boss, { latestHandshake: now - 60, rxBytes: 100, txBytes: 1 });
  await h.service.peers(); // the watch's first look at what each peer sent
  // 45 s later rpi has sent nothing more (its link went down); boss has.
  nowMs += 45_000;
  host.peerStats.set(KEYS.boss, { latestHandshake: now - 60, rxBytes: 200, txBytes: 1 });
  const asked = h.as("root", "POST", "/v1/reachability", {});
  let task: { id: string } | undefined;
  for (let i = 0; i < 50 && !task; i++) {
    const rpi = (await (await h.as("10.8.0.2", "GET", "/v1/whoami")).json()) as { probe?: unknown };
    assert.equal(rpi.probe, undefined, "silent rpi was asked");
    task = ((await (await h.as("10.8.0.4", "GET", "/v1/whoami")).json()) as { probe?: typeof task }).probe;
    if (!task) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(task, "boss, still heard, probes");
  const report = {
    address: "203.0.113.1",
    via: "eth0",
    handshake: { ageS: 60, endpoint: "203.0.113.1:51820" },
    results: [],
  };
  assert.equal((await h.as("10.8.0.4", "POST", `/v1/probes/${task.id}`, report)).status, 200);
  assert.equal(((await (await asked).json()) as { peer: string }).peer, "boss");
  // Only rpi: told at once why nobody probes, not "did not report" after a wait.
  host.peerStats.delete(KEYS.boss);
  const started = Date.now();
  const alone = (await (await h.as("root", "POST", "/v1/reachability", {})).json()) as { note: string };
  assert.ok(Date.now() - started < 1000, "no wait for a report that cannot come");
  assert.equal(
    alone.note,
    "rpi, the peer that shook hands last, has sent the hub nothing for 45 s (it sends at least every 25 s): its tunnel is likelier down (see the peers check), so it cannot probe from outside",
  );
});

test("a peer's change by request id is known after the daemon restarts: asked again, it is answered, not run twice", async (t) => {
  const h = await hub(t);
  const id = "req-restart-0123";
  const send = (service: HubService) =>
    hubApi(service, "tcp").request(
      "/v1/forwards",
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": id },
        body: JSON.stringify({ port: 9100 }),
      },
      { incoming: { socket: { remoteAddress: ADDRESS.peer } } },
    );
  assert.equal((await send(h.service)).status, 201); // the answer the peer lost
  // The restarted daemon: a new service over the same host and state directory.
  const again = new HubService(h.service.ctx, h.service.store);
  const state = await hubApi(again, "tcp").request(`/v1/requests/${id}`, undefined, {
    incoming: { socket: { remoteAddress: ADDRESS.peer } },
  });
  assert.deepEqual(
    { ...((await state.json()) as object), body: undefined },
    { state: "done", status: 201, body: undefined },
  );
  const resent = await send(again);
  assert.equal(resent.status, 201, "the first outcome, not 'already forwarded'");
  assert.equal(resent.headers.get("x-request-replayed"), "1");
  assert.equal(readFileSync(h.specFile, "utf8").match(/port: 9100/g)?.length, 1);
});

test("a peer's outcomes by request id follow its key: another machine added under its name gets none of them", async (t) => {
  const h = await hub(t);
  const id = "req-rekeyed-0123";
  const sent = await hubApi(h.service, "tcp").request(
    "/v1/forwards",
    {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": id },
      body: JSON.stringify({ port: 9101 }),
    },
    { incoming: { socket: { remoteAddress: ADDRESS.peer } } },
  );
  assert.equal(sent.status, 201);
  const ask = () =>
    h.as("peer", "GET", `/v1/requests/${id}`).then((r) => r.json() as Promise<{ state: string }>);
  assert.equal((await ask()).state, "done", "its own outcome, asked again");
  // nas removed and added again by hand under its name, with a new key (another machine, same address).
  writeFileSync(h.specFile, readFileSync(h.specFile, "utf8").replace(KEYS.nas, key()));
  await h.service.reconcile();
  assert.equal((await ask()).state, "unknown", "the old machine's outcome is not the new one's");
});

test("GET /v1/status?forwards=summary sums up more than 100 forwards; a peer's summary is of its own", async (t) => {
  const many = Array.from(
    { length: 120 },
    (_, i) => `  - name: f${i}\n    port: ${20000 + i}\n    peer: ${i < 105 ? "rpi" : "nas"}\n`,
  ).join("");
  const h = await hub(t, SPEC() + many);
  // Each public port counted one new connection (a port without a counter would make the sum unknown).
  const ports = [80, 8443, ...Array.from({ length: 120 }, (_, i) => 20000 + i)];
  h.host.counters.set(
    "set opened_tcp",
    ports.map((p) => ({ key: String(p), packets: 1, bytes: 60 })),
  );
  const full = (await (await h.as("root", "GET", "/v1/status")).json()) as HubStatus;
  assert.equal(full.forwards.length, 122);
  assert.equal(full.forwardSummary, undefined);

  const sum = (await (await h.as("root", "GET", "/v1/status?forwards=summary")).json()) as HubStatus;
  assert.equal(sum.forwardSummary?.count, 122);
  assert.equal(sum.forwardSummary?.connectionsTotal, 122);
  // The fake host's targets all accept a connection: every forward works, none is listed.
  assert.deepEqual(sum.forwardSummary?.working, { yes: 122, no: 0, unknown: 0 });
  assert.equal(sum.forwardSummary?.problems, 0);
  assert.deepEqual(sum.forwards, []);
  assert.deepEqual(sum.peers, full.peers);

  // nas (not an admin) sees its own 16 forwards: not more than 100, so each of them, as before.
  const nas = (await (await h.as("peer", "GET", "/v1/status?forwards=summary")).json()) as HubStatus;
  assert.equal(nas.forwardSummary, undefined);
  assert.deepEqual(
    nas.forwards.map((f) => f.peer),
    Array(16).fill("nas"),
  );

  const bad = await h.as("root", "GET", "/v1/status?forwards=some");
  assert.equal(bad.status, 400);
  assert.match(
    ((await bad.json()) as { error: string }).error,
    /forwards: "some" is not accepted; give "summary"/,
  );
});

test("a change the spec refuses lists each refused field apart, as the joined error names them", async (t) => {
  const h = await hub(t);
  const r = await h.as("peer", "POST", "/v1/forwards", { port: 22, targetPort: "8080-8081" });
  assert.equal(r.status, 400);
  const reply = (await r.json()) as { error: string; problems?: { field: string; message: string }[] };
  assert.deepEqual(
    reply.problems?.map((p) => p.field),
    ["port", "targetPort"],
  );
  assert.equal(reply.error, reply.problems?.map((p) => `${p.field}: ${p.message}`).join("; "));
  assert.match(reply.problems?.[0]?.message ?? "", /^22 is the hub's SSH port/);
});
