import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { expandTargets } from "../../src/compile/targets.ts";
import { hostFiles } from "../../src/host/files.ts";
import { forwardStatuses, withFindings } from "../../src/hub/forward-status.ts";
import { APPLY_BUCKETS, Histogram, renderMetrics } from "../../src/hub/metrics.ts";
import { RuntimeStore } from "../../src/hub/runtime.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import type { HubStatus } from "../../src/protocol/status.ts";
import { renderStatus } from "../../src/protocol/status-text.ts";
import { makeToken, readToken, type TokenPayload, tokenIn, verifyToken } from "../../src/protocol/tokens.ts";
import { loadSpec } from "../../src/spec/load.ts";
import type { Spec } from "../../src/spec/types.ts";

const HUB_KEY = publicKeyOf(generatePrivateKey());
const PEER_KEY = publicKeyOf(generatePrivateKey());
function specOf(text: string): Spec {
  const r = loadSpec(text);
  if (!r.ok) throw new Error(r.report);
  return r.spec;
}

const payload: TokenPayload = {
  i: "abc",
  n: "rpi",
  h: "vps.example.com:51820",
  k: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
  x: "gJ3G1/8s3o9Li4utoFsFT4dR/fNAAruhBaIcRk9xr0Y=",
  a: "10.8.0.254",
  m: 24,
  s: "10.8.0.1",
  p: 51821,
  e: 2_000_000_000,
};

test("a token reads back on the peer and verifies on the hub that made it", () => {
  const secret = randomBytes(32);
  const token = makeToken(secret, payload);
  assert.match(token, /^ph1\.[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.deepEqual(readToken(token, 1_900_000_000), payload);
  assert.equal(verifyToken(secret, token), true);
  assert.equal(verifyToken(randomBytes(32), token), false, "another hub's secret");
});

test("damaged, altered and expired tokens are refused with a reason", () => {
  const secret = randomBytes(32);
  const token = makeToken(secret, payload);
  const [head, body, sum, mac] = token.split(".");
  assert.throws(() => readToken("hello", 0), /not a porthole join token/);
  // The line `peer add` prints, pasted whole: the token after `porthole join`.
  for (const pasted of [`  porthole join ${token}\n`, `sudo porthole join ${token}`, `${token}\n`])
    assert.equal(tokenIn(pasted), token);
  assert.equal(tokenIn("porthole joined x"), "porthole joined x", "only the command itself is taken off");
  assert.throws(
    () => readToken(`${head}.${body}x.${sum}.${mac}`, 0),
    /damaged or was altered \(checksum mismatch\)/,
  );
  assert.throws(() => readToken(token, 2_000_000_001), /token expired at 2033-05-18T03:33:20.000Z/);
  // An attacker who fixes the checksum still cannot make the hub's MAC.
  const forged = makeToken(randomBytes(32), { ...payload, n: "admin" });
  assert.equal(readToken(forged, 0).n, "admin");
  assert.equal(verifyToken(secret, forged), false);
});

test("metrics are Prometheus text with one series per peer and forward", () => {
  const status: HubStatus = {
    hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
    peers: [
      {
        name: "rpi",
        address: "10.8.0.2",
        online: true,
        handshakeAgeSeconds: 7,
        endpoint: "198.51.100.2:4000",
        rxBytes: 10,
        txBytes: 20,
        admin: false,
        kind: "agent",
      },
      {
        name: 'odd"name',
        address: "10.8.0.3",
        online: false,
        handshakeAgeSeconds: null,
        endpoint: null,
        rxBytes: 0,
        txBytes: 0,
        admin: false,
        kind: "device",
      },
    ],
    forwards: [
      {
        name: "web",
        peer: "rpi",
        summary: "",
        mode: "snat",
        connectionsTotal: 3,
        packets: 40,
        bytes: 5000,
        establishedConnections: 1,
        probeTarget: "10.8.0.2:80",
        reachable: true,
        probeAgeSeconds: 0,
        blockedBy: ["nft table inet filter chain forward (policy drop)"],
        working: false,
      },
      {
        name: "legacy",
        peer: "rpi",
        summary: "",
        mode: "snat",
        connectionsTotal: 2,
        packets: null,
        bytes: null,
        establishedConnections: null,
        probeTarget: null,
        reachable: null,
        probeAgeSeconds: null,
        blockedBy: [],
        working: null,
      },
    ],
    firewall: [
      {
        path: "forward",
        what: "forward web",
        forwards: ["web"],
        source: "nft",
        family: "inet",
        table: "filter",
        chain: "forward",
        ruleChain: "forward",
        rule: null,
        via: ["forward"],
        certain: true,
        passable: false,
        fix: ['nft insert rule inet filter forward oifname "wg0" accept'],
      },
    ],
  };
  const durations = new Histogram(APPLY_BUCKETS);
  for (const s of [0.02, 0.25, 3]) durations.observe(s);
  const text = renderMetrics(status, { total: 5, failures: 1, lastDurationSeconds: 3, durations });
  assert.match(text, /^porthole_build_info\{version="\d+\.\d+\.\d+",nodejs="v[\d.]+"\} 1$/m);
  assert.match(text, /^# TYPE porthole_peer_up gauge$/m);
  assert.match(text, /^porthole_peer_up\{peer="rpi"\} 1$/m);
  assert.match(text, /^porthole_peer_up\{peer="odd\\"name"\} 0$/m);
  // Unknown is absent, never a sentinel: no handshake yet, no traffic counted by iptables.
  assert.match(text, /^porthole_peer_handshake_age_seconds\{peer="rpi"\} 7$/m);
  assert.doesNotMatch(text, /^porthole_peer_handshake_age_seconds\{peer="odd/m);
  assert.doesNotMatch(text, / -1$/m);
  assert.match(text, /^porthole_forward_bytes_total\{forward="web",peer="rpi"\} 5000$/m);
  assert.doesNotMatch(text, /^porthole_forward_(bytes|packets)_total\{forward="legacy"/m);
  assert.match(text, /^porthole_forward_connections_total\{forward="legacy",peer="rpi"\} 2$/m);
  assert.match(text, /^porthole_forward_established_connections\{forward="web",peer="rpi"\} 1$/m);
  assert.match(text, /^porthole_apply_failures_total 1$/m);
  assert.match(text, /^porthole_forward_blocked\{forward="web",peer="rpi"\} 1$/m);
  assert.match(text, /^porthole_forward_blocked\{forward="legacy",peer="rpi"\} 0$/m);
  assert.match(
    text,
    /^porthole_firewall_drop\{path="forward",where="nft table inet filter chain forward",by="policy drop",certain="yes",forwards="web"\} 1$/m,
  );
  const rendered = renderStatus(status);
  assert.match(
    rendered,
    /^ {4}.*working: NO, blocked on the hub by nft table inet filter chain forward \(policy drop\) \(fix below\)$/m,
  );
  assert.match(rendered, /^ {4}fix: nft insert rule inet filter forward oifname "wg0" accept$/m);
  assert.doesNotMatch(rendered, /working: yes/);
  const clear = renderStatus({ ...status, firewall: [], forwards: withFindings(status.forwards, []) });
  assert.match(
    clear,
    /working: yes \(the target accepts connections from the hub; no firewall on the hub drops it\)/,
  );
  assert.match(clear, /working: not probed \(udp\); no firewall on the hub drops it/);
  // The apply duration is a histogram: cumulative buckets, sum and count.
  assert.match(text, /^# TYPE porthole_apply_duration_seconds histogram$/m);
  assert.match(text, /^porthole_apply_duration_seconds_bucket\{le="0.025"\} 1$/m);
  assert.match(text, /^porthole_apply_duration_seconds_bucket\{le="0.25"\} 2$/m);
  assert.match(text, /^porthole_apply_duration_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(text, /^porthole_apply_duration_seconds_count 3$/m);
  assert.match(text, /^porthole_apply_duration_seconds_sum 3.27$/m);
});

test("forwards to one target count apart: each forward sums its own public ports", () => {
  const spec = specOf(`
version: 1
hub: { endpoint: 203.0.113.1, publicKey: ${HUB_KEY} }
peers: [{ name: rpi, publicKey: ${PEER_KEY}, address: 10.8.0.2 }]
forwards:
  - { name: old, port: 80, peer: rpi, targetPort: 8080 }
  - { name: new, port: 8080, peer: rpi }
  - { name: range, proto: tcp+udp, port: 6000-6001, peer: rpi, targetPort: 7000-7001 }
`);
  const [old, fresh, range] = forwardStatuses(spec, expandTargets(spec), {
    opened: new Map([
      ["tcp . 80", 3],
      ["tcp . 8080", 0],
      ["tcp . 6000", 1],
      ["tcp . 6001", 0],
      ["udp . 6000", 0],
      ["udp . 6001", 2],
    ]),
    traffic: new Map([
      ["tcp . 80", { packets: 30, bytes: 3000 }],
      ["tcp . 8080", { packets: 0, bytes: 0 }],
      ["tcp . 6000", { packets: 0, bytes: 0 }],
      ["tcp . 6001", { packets: 0, bytes: 0 }],
      ["udp . 6000", { packets: 0, bytes: 0 }],
      ["udp . 6001", { packets: 4, bytes: 400 }],
    ]),
    open: new Map([
      ["tcp/80/10.8.0.2/8080", 2],
      ["tcp/8080/10.8.0.2/8080", 0],
      ["udp/6001/10.8.0.2/7001", 1],
      // a connection to public port 80 that did not go to this forward's target is not its
      ["tcp/80/10.8.0.9/8080", 5],
    ]),
  });
  assert.deepEqual(
    [old, fresh, range].map((f) => [f?.connectionsTotal, f?.packets, f?.bytes, f?.establishedConnections]),
    [
      [3, 30, 3000, 2],
      [0, 0, 0, 0],
      [3, 4, 400, 1],
    ],
  );
  const uncounted = forwardStatuses(spec, expandTargets(spec), {
    opened: new Map([["tcp . 80", 3]]),
    traffic: null,
    open: null,
  });
  assert.equal(uncounted[0]?.packets, null);
  assert.equal(uncounted[0]?.establishedConnections, null);
  // A port the kernel has no counter for (not applied yet) is not counted: the forward's number is
  // unknown, not 0; with no counters at all (porthole down) every number is.
  assert.equal(uncounted[0]?.connectionsTotal, 3);
  assert.equal(uncounted[1]?.connectionsTotal, null);
  const down = forwardStatuses(spec, expandTargets(spec), { opened: null, traffic: null, open: null });
  assert.deepEqual(
    down.map((f) => [f.connectionsTotal, f.packets, f.bytes, f.establishedConnections]),
    [
      [null, null, null, null],
      [null, null, null, null],
      [null, null, null, null],
    ],
  );
});

test("runtime updates from two processes at once all land (tokens from one, the webhook from the other)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-runtime-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new RuntimeStore(hostFiles, dir);
  const token = (i: number) => ({
    id: `t${i}`,
    name: `p${i}`,
    admin: false,
    expires: 2_000_000_000_000,
    publicKey: payload.k,
    address: `10.8.0.${100 + i}`,
  });
  // The other process sets the webhook 20 times while this one adds 20 tokens, each concurrently.
  const script = `import { RuntimeStore } from ${JSON.stringify(new URL("../../src/hub/runtime.ts", import.meta.url).href)};
import { hostFiles } from ${JSON.stringify(new URL("../../src/host/files.ts", import.meta.url).href)};
const s = new RuntimeStore(hostFiles, ${JSON.stringify(dir)});
await Promise.all(Array.from({ length: 20 }, (_, i) => s.update((r) => { r.webhook = "http://127.0.0.1:9/" + i; })));`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: "inherit",
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      store.update((r) => {
        r.tokens.push(token(i));
      }),
    ),
  );
  assert.equal(await exited, 0);
  const r = await store.load();
  assert.deepEqual(r.tokens.map((x) => x.id).sort(), Array.from({ length: 20 }, (_, i) => `t${i}`).sort());
  assert.match(r.webhook ?? "", /^http:\/\/127\.0\.0\.1:9\/\d+$/);
});
