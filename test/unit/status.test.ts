// The hub's status over the fake host: what `porthole status` makes of the kernel's numbers (handshakes,
// element counters, conntrack counts, TCP probes), read through the Host interface alone.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import * as z from "zod";
import { judgeApplied } from "../../src/doctor/hub-applied.ts";
import { judgePeer } from "../../src/doctor/hub-peers.ts";
import { hostFiles } from "../../src/host/files.ts";
import type { ConnectResult } from "../../src/host/types.ts";
import { renderMetrics } from "../../src/hub/metrics.ts";
import { HubService } from "../../src/hub/service.ts";
import { ONLINE_WITHIN_S } from "../../src/hub/status.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { type ProbePeer, timeoutCause, tunnelReadsDown } from "../../src/protocol/probe-text.ts";
import { type PeerApplied, PeerStatusReply } from "../../src/protocol/responses.ts";
import type { ForwardStatus, LocalPeerStatus, PeerStatus } from "../../src/protocol/status.ts";
import { renderLocalPeerStatus, renderStatus } from "../../src/protocol/status-text.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const KEYS = {
  rpi: publicKeyOf(generatePrivateKey()),
  nas: publicKeyOf(generatePrivateKey()),
  cam: publicKeyOf(generatePrivateKey()),
};
/** The hub's clock: Unix seconds. */
const NOW = 1_800_000_000;

const SPEC = (firewall: string) => `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
  firewall: ${firewall}
peers:
  - name: rpi
    publicKey: "${KEYS.rpi}"
    address: 10.8.0.2
  - name: nas
    publicKey: "${KEYS.nas}"
    address: 10.8.0.3
  - name: cam
    publicKey: "${KEYS.cam}"
    address: 10.8.0.4
forwards:
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080
  - name: files
    port: 8443
    peer: nas
  - name: game
    proto: udp
    port: 27015
    peer: rpi
`;

async function hub(
  t: TestContext,
  firewall = "nftables",
  now = () => NOW * 1000,
): Promise<{ host: FakeHost; service: HubService }> {
  const dir = mkdtempSync(join(tmpdir(), "porthole-status-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const specFile = join(dir, "porthole.yaml");
  writeFileSync(specFile, SPEC(firewall));
  const host = fakeHost({ "/k": hubKey });
  const ctx = { host, keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" };
  const service = new HubService(ctx, new SpecStore(hostFiles, specFile, dir), now);
  assert.ok((await service.reconcile()).changed, "the fake host is set up as the hub");
  return { host, service };
}

test("status: a peer is online only with a handshake younger than ONLINE_WITHIN_S; byte counts are wg's", async (t) => {
  const { host, service } = await hub(t);
  host.peerStats.set(KEYS.rpi, { latestHandshake: NOW - 10, rxBytes: 2048, txBytes: 4096 });
  host.peerStats.set(KEYS.nas, { latestHandshake: NOW - ONLINE_WITHIN_S - 20, rxBytes: 5, txBytes: 6 });
  const s = await service.status(false);
  assert.equal(s.hub.up, true);
  const peers = Object.fromEntries(s.peers.map((p) => [p.name, p]));
  assert.deepEqual(
    [peers.rpi?.online, peers.rpi?.handshakeAgeSeconds, peers.rpi?.rxBytes, peers.rpi?.txBytes],
    [true, 10, 2048, 4096],
  );
  assert.deepEqual([peers.nas?.online, peers.nas?.handshakeAgeSeconds], [false, ONLINE_WITHIN_S + 20]);
  assert.deepEqual([peers.cam?.online, peers.cam?.handshakeAgeSeconds], [false, null], "never shook hands");
  assert.deepEqual(
    (await service.peers()).map((p) => [p.name, p.online]),
    [
      ["rpi", true],
      ["nas", false],
      ["cam", false],
    ],
  );
  const text = renderStatus(s);
  assert.match(
    text,
    /rpi 10\.8\.0\.2: online\n {4}latest handshake: 10 seconds ago; .*2\.00 KiB received, 4\.00 KiB sent/,
  );
  assert.match(text, /nas 10\.8\.0\.3: offline\n {4}latest handshake: 3 minutes ago/);
  assert.match(text, /cam 10\.8\.0\.4: offline\n {4}latest handshake: never/);
});

test("status: without the interface the hub is down and every peer is unknown (online null, not false)", async (t) => {
  const { host, service } = await hub(t);
  host.peerStats.set(KEYS.rpi, { latestHandshake: NOW - 10, rxBytes: 1, txBytes: 1 });
  host.ifaces.clear();
  const s = await service.status(false);
  assert.equal(s.hub.up, false);
  // Nothing of the peers was read: unknown, never "offline, 0 bytes".
  assert.deepEqual(
    s.peers.map((p) => [p.online, p.handshakeAgeSeconds, p.receivedSecondsAgo, p.rxBytes, p.txBytes]),
    [
      [null, null, null, null, null],
      [null, null, null, null, null],
      [null, null, null, null, null],
    ],
  );
  const text = renderStatus(s);
  assert.match(text, /wg0 DOWN: not listening/);
  // No interface, no handshakes to read: each peer is unknown, not "offline, latest handshake: never".
  assert.match(text, /^ {2}rpi 10\.8\.0\.2: unknown \(wg0 is down: its handshakes cannot be read\)$/m);
  assert.doesNotMatch(text, /never|offline/);
});

/** True only when A and B are the same type (each assignable to the other). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// GET /v1/peers' schema (the OpenAPI document's) is PeerStatus on the wire: a field added to one and
// not the other fails the typecheck.
const WirePeer = z.strictObject(PeerStatusReply.shape);
type Wire = z.infer<typeof WirePeer>;
const schemaIsPeerStatus: Same<PeerStatus, Wire> & Same<keyof PeerStatus, keyof Wire> = true;

test("status: the hub's peers, interface up or down, are what GET /v1/peers' schema says (no field it does not name)", async (t) => {
  assert.ok(schemaIsPeerStatus);
  const { host, service } = await hub(t);
  host.peerStats.set(KEYS.rpi, { latestHandshake: NOW - 10, rxBytes: 1, txBytes: 1 });
  const strict = z.array(WirePeer);
  const up = await service.peers();
  assert.deepEqual(strict.parse(up), up);
  host.ifaces.clear();
  const down = await service.peers();
  assert.deepEqual(strict.parse(down), down);
  assert.deepEqual(
    down.map((p) => p.online),
    [null, null, null],
  );
  assert.throws(() => strict.parse([{ ...down[0], online: "unknown" }]), /online/);
});

test("status: nftables element counters and conntrack counts show per forward, each its own ports", async (t) => {
  let clock = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => clock);
  host.counters.set("set opened_tcp", [
    { key: "80", packets: 7, bytes: 420 },
    { key: "8443", packets: 2, bytes: 120 },
  ]);
  host.counters.set("set opened_udp", [{ key: "27015", packets: 1, bytes: 60 }]);
  host.counters.set("set traffic_tcp", [
    { key: "80", packets: 100, bytes: 5000 },
    { key: "8443", packets: 30, bytes: 3000 },
  ]);
  host.counters.set("set traffic_udp", [{ key: "27015", packets: 9, bytes: 900 }]);
  host.open = new Map([
    ["tcp/80/10.8.0.2/8080", 3],
    ["udp/27015/10.8.0.2/27015", 1],
    ["tcp/8443/10.8.0.9/8443", 5], // not a target of this spec: counted nowhere
  ]);
  const s = await service.status(false);
  const numbers = s.forwards.map((f) => [
    f.name,
    f.connectionsTotal,
    f.packets,
    f.bytes,
    f.establishedConnections,
  ]);
  assert.deepEqual(numbers, [
    ["web", 7, 100, 5000, 3],
    ["files", 2, 30, 3000, 0],
    ["game", 1, 9, 900, 1],
  ]);
  assert.match(
    renderStatus(s),
    /connections: 3 established, 7 total; traffic: 100 packets, 4\.88 KiB; working: unknown, 10\.8\.0\.2:8080 not probed yet/,
  );
  const metrics = renderMetrics(s, service.stats);
  for (const line of [
    'porthole_forward_connections_total{forward="web",peer="rpi"} 7',
    'porthole_forward_bytes_total{forward="files",peer="nas"} 3000',
    'porthole_forward_established_connections{forward="game",peer="rpi"} 1',
    `porthole_forward_counted_timestamp_seconds ${NOW}`,
  ])
    assert.ok(metrics.split("\n").includes(line), `${line} in\n${metrics}`);

  host.open = null; // conntrack missing: unknown, never 0
  clock += 2000; // a count of the last second serves as it is (hub/census.ts)
  const unknown = await service.status(false);
  assert.deepEqual(
    unknown.forwards.map((f) => f.establishedConnections),
    [null, null, null],
  );
  assert.match(renderStatus(unknown), /connections: unknown established, 7 total/);
});

test("status after porthole down (no table, no chain): every forward's numbers unknown, not 0, in JSON, text and metrics", async (t) => {
  for (const backend of ["nftables", "iptables"] as const) {
    const { host, service } = await hub(t, backend);
    host.counters.set("set opened_tcp", [{ key: "80", packets: 7, bytes: 420 }]);
    host.counters.set("iptables 4", [{ key: "tcp . 80", packets: 7, bytes: 420 }]);
    host.open = new Map(); // conntrack answers, but nothing marks connections without porthole's rules
    host.fw.nft = null;
    host.fw.iptables = { 4: null, 6: null };
    const s = await service.status(false);
    assert.deepEqual(
      s.forwards.map((f) => [f.connectionsTotal, f.packets, f.bytes, f.establishedConnections]),
      [
        [null, null, null, null],
        [null, null, null, null],
        [null, null, null, null],
      ],
      backend,
    );
    assert.match(
      renderStatus(s),
      /connections: unknown established, unknown total; traffic: unknown \(no counters in the kernel: porthole is down, or the forward is not applied yet\)/,
    );
    assert.doesNotMatch(
      renderMetrics(s, service.stats),
      /^porthole_forward_(connections|packets|bytes)_total\{/m,
    );
  }
});

test("status: the iptables backend counts new connections per DNAT rule and no traffic", async (t) => {
  const { host, service } = await hub(t, "iptables");
  host.counters.set("iptables 4", [
    { key: "tcp . 80", packets: 4, bytes: 240 },
    { key: "tcp . 8443", packets: 0, bytes: 0 },
    { key: "udp . 27015", packets: 2, bytes: 120 },
  ]);
  host.counters.set("set traffic_tcp", [{ key: "80", packets: 100, bytes: 5000 }]); // not read: no nft table
  const s = await service.status(false);
  assert.deepEqual(
    s.forwards.map((f) => [f.name, f.connectionsTotal, f.packets, f.bytes]),
    [
      ["web", 4, null, null],
      ["files", 0, null, null],
      ["game", 2, null, null],
    ],
  );
  assert.match(renderStatus(s), /4 total; traffic: not counted \(iptables backend\)/);
});

/** The hub's TCP connects, "10.8.0.2:8080" each, in order. */
const connects = (host: FakeHost) =>
  host.probes.flatMap((p) => (p.startsWith("connect ") ? [p.slice("connect ".length)] : []));

test("status: a forward works only when its target answers a TCP connect; UDP is not probed", async (t) => {
  const { host, service } = await hub(t);
  host.network.connect = (a) =>
    a === "10.8.0.2" ? { outcome: "accepted", error: null } : { outcome: "timeout", error: null };
  const s = await service.status(true);
  assert.deepEqual(
    connects(host).sort(),
    ["10.8.0.2:8080", "10.8.0.3:8443"],
    "each TCP forward's target once",
  );
  assert.deepEqual(
    s.forwards.map((f) => [f.name, f.reachable, f.probeOutcome, f.working]),
    [
      ["web", true, "accepted", true],
      ["files", false, "timeout", false],
      ["game", null, null, null],
    ],
  );
  const text = renderStatus(s);
  assert.match(text, /tcp\/80 .*\n.*working: yes \(the target accepts connections from the hub/);
  assert.match(
    text,
    /tcp\/8443 .*\n.*working: NO, 10\.8\.0\.3:8443 did not answer the hub's connection \(timed out\)/,
  );

  host.probes.length = 0;
  const unprobed = await service.status(false);
  assert.deepEqual(connects(host), [], "probe=false connects to nothing");
  assert.deepEqual(
    unprobed.forwards.map((f) => [f.working, f.probeOutcome, f.probeAgeSeconds]),
    [
      [true, "accepted", 0],
      [false, "timeout", 0],
      [null, null, null],
    ],
    "probe=false (/metrics) reports the last probes, with their age",
  );
});

test("status: probe=false on a hub never probed reports every target not probed (null), connecting to nothing", async (t) => {
  const { host, service } = await hub(t);
  const s = await service.status(false);
  assert.deepEqual(connects(host), []);
  assert.deepEqual(
    s.forwards.map((f) => [f.working, f.probeOutcome, f.probeAgeSeconds]),
    [
      [null, null, null],
      [null, null, null],
      [null, null, null],
    ],
  );
});

/** The `working:` of forward files (tcp/8443 → nas:8443) when the hub's connect ends as `result`. */
async function filesWorking(
  t: TestContext,
  result: ConnectResult,
  handshakeAgeS: number | null = 10,
): Promise<{ f: ForwardStatus; line: string }> {
  const { host, service } = await hub(t);
  if (handshakeAgeS !== null)
    host.peerStats.set(KEYS.nas, { latestHandshake: NOW - handshakeAgeS, rxBytes: 1, txBytes: 1 });
  host.network.connect = () => result;
  const s = await service.status(true);
  const f = s.forwards.find((x) => x.name === "files") as ForwardStatus;
  const line = /tcp\/8443 .*\n.*working: (.*)$/m.exec(renderStatus(s))?.[1] ?? "";
  return { f, line };
}

test("status: a refused target reads refused: the peer is reached, nothing accepts on the port", async (t) => {
  const { f, line } = await filesWorking(t, { outcome: "refused", error: "ECONNREFUSED" });
  assert.deepEqual(
    [f.reachable, f.probeOutcome, f.probeError, f.working],
    [false, "refused", undefined, false],
  );
  assert.equal(
    line,
    "NO, 10.8.0.3:8443 refused the hub's connection: nas is reached; nothing accepts on 10.8.0.3:8443 (or a firewall there rejects it)",
  );
});

test("status: a timed-out target says which cause the peer's handshake makes likelier", async (t) => {
  const online = await filesWorking(t, { outcome: "timeout", error: null }, 40);
  assert.deepEqual([online.f.reachable, online.f.probeOutcome, online.f.working], [false, "timeout", false]);
  assert.equal(
    online.line,
    "NO, 10.8.0.3:8443 did not answer the hub's connection (timed out): nas is online (last handshake 40 seconds ago), so a firewall on nas (or past it) dropping tcp/8443 is likelier than the tunnel, unless the tunnel broke since that handshake (`porthole doctor` on nas tells)",
  );
  const offline = await filesWorking(t, { outcome: "timeout", error: null }, 600);
  assert.equal(
    offline.line,
    "NO, 10.8.0.3:8443 did not answer the hub's connection (timed out): nas is offline (last handshake 10 minutes ago): the tunnel is down, likelier than a firewall",
  );
  const never = await filesWorking(t, { outcome: "timeout", error: null }, null);
  assert.match(never.line, /: nas is offline \(no handshake yet\): the tunnel is down/);
});

test("status: a timed-out target with the peer online says whether the hub still receives from it", async (t) => {
  let nowMs = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => nowMs);
  host.network.connect = () => ({ outcome: "timeout", error: null });
  const seen = async (rxBytes: number, atS: number) => {
    nowMs = (NOW + atS) * 1000;
    host.peerStats.set(KEYS.nas, { latestHandshake: NOW, rxBytes, txBytes: 1 });
    await service.peers(); // the daemon's watch loop
  };
  const working = async () => {
    const s = await service.status(true);
    const nas = s.peers.find((p) => p.name === "nas");
    const text = renderStatus(s);
    return {
      received: nas?.receivedSecondsAgo,
      line: /tcp\/8443 .*\n.*working: (.*)$/m.exec(text)?.[1] ?? "",
      peerLine: /nas 10\.8\.0\.3: online\n {4}(.*)$/m.exec(text)?.[1] ?? "",
    };
  };
  await seen(1000, 0);
  await seen(1148, 2);
  nowMs = (NOW + 14) * 1000;
  const sent = await working();
  assert.equal(sent.received, 12);
  assert.equal(
    sent.line,
    "NO, 10.8.0.3:8443 did not answer the hub's connection (timed out): nas sent packets 12 seconds ago, so the tunnel carries them and a firewall on nas (or past it) dropping tcp/8443 is likelier",
  );
  assert.match(sent.peerLine, /^latest handshake: 14 seconds ago; last received: 12 seconds ago; endpoint/);

  // The tunnel broke: the handshake is 54 s old (still online), nothing received for 52 s.
  for (let s = 4; s <= 52; s += 2) await seen(1148, s);
  nowMs = (NOW + 54) * 1000;
  const quiet = await working();
  assert.equal(quiet.received, 52);
  assert.equal(
    quiet.line,
    "NO, 10.8.0.3:8443 did not answer the hub's connection (timed out): nothing received from nas for 52 seconds (it sends at least every 25 s): the tunnel is likelier down than a firewall",
  );
  assert.match(quiet.peerLine, /^latest handshake: 54 seconds ago; last received: 52 seconds ago; endpoint/);
});

test("status: a timeout's cause is judged by the peer's own keepalive, said as its own (agent, device, off)", async (t) => {
  const { service } = await hub(t);
  assert.deepEqual(
    (await service.peers()).map((p) => p.keepalive),
    [25, 25, 25],
    "each peer's keepalive as the spec has it (the default)",
  );
  const peer = (over: Partial<ProbePeer>): ProbePeer => ({
    name: "nas",
    online: true,
    handshakeAgeSeconds: 100,
    receivedSecondsAgo: 40,
    keepalive: 25,
    kind: "agent",
    ...over,
  });
  assert.equal(
    timeoutCause(peer({ keepalive: 10 }), 80),
    "nothing received from nas for 40 seconds (it sends at least every 10 s): the tunnel is likelier down than a firewall",
  );
  assert.equal(
    timeoutCause(peer({ kind: "device" }), 80),
    "nothing received from nas for 40 seconds (its WireGuard config sends a keepalive every 25 s): the tunnel is likelier down than a firewall",
  );
  // 40 s of silence from a peer that sends every 60 s is not yet silence (60 + 5 s).
  assert.match(
    timeoutCause(peer({ keepalive: 60 }), 80),
    /^nas sent packets 40 seconds ago, so the tunnel carries them/,
  );
  assert.equal(tunnelReadsDown(peer({ keepalive: 60 })), false);
  assert.equal(tunnelReadsDown(peer({ keepalive: 60, receivedSecondsAgo: 65 })), true);
  // Keepalive off: an idle peer sends nothing, so its silence says nothing; the handshake is judged.
  assert.equal(
    timeoutCause(peer({ keepalive: 0, receivedSecondsAgo: 300 }), 80),
    "nas is online (last handshake 100 seconds ago; nothing received for 5 minutes, but its keepalive is off (an idle peer sends nothing)), so a firewall on nas (or past it) dropping tcp/80 is likelier than the tunnel, unless the tunnel broke since that handshake (`porthole doctor` on nas tells)",
  );
  assert.equal(tunnelReadsDown(peer({ keepalive: 0, receivedSecondsAgo: 300 })), false);
});

test("status: a peer in the spec but not on wg0 (not applied yet) is offline with its bytes unknown, not 0 and not 'never'", async (t) => {
  const { host, service } = await hub(t);
  const wg0 = host.ifaces.get("wg0");
  assert.ok(wg0);
  wg0.peers = wg0.peers.filter((p) => p.publicKey !== KEYS.cam);
  const s = await service.status(false);
  const cam = s.peers.find((p) => p.name === "cam");
  assert.deepEqual([cam?.online, cam?.rxBytes, cam?.txBytes], [false, null, null]);
  assert.match(
    renderStatus(s),
    /^ {2}cam 10\.8\.0\.4: offline \(not on wg0: the spec that adds it is not applied; porthole apply\)$/m,
  );
  assert.doesNotMatch(renderMetrics(s, service.stats), /_bytes_total\{peer="cam"/);
  // Doctor's peers check says the same: not on the interface, with apply's fix, not the device's tunnel.
  const doctor = judgePeer(cam as PeerStatus, ["cam-rtsp"], "", 51820, { kind: "device", keepalive: 0 });
  assert.deepEqual(
    [doctor.status, doctor.found, doctor.fix],
    [
      "warn",
      "cam: offline (not on wg0: the spec that adds it is not applied); its forward cam-rtsp does not work",
      ["porthole apply --dry-run (what is missing on the hub), then porthole apply"],
    ],
  );
});

test("status: a peer the hub never received from (a device never seen) reads 'last received: never', not the seconds watched", async (t) => {
  let nowMs = NOW * 1000;
  const { service } = await hub(t, "nftables", () => nowMs);
  // cam: no handshake, 0 bytes received, watched by the daemon's 2 s peer watch for a minute.
  for (let s = 0; s <= 60; s += 2) {
    nowMs = (NOW + s) * 1000;
    await service.peers();
  }
  const s = await service.status(false);
  const cam = s.peers.find((p) => p.name === "cam");
  assert.equal(cam?.receivedSecondsAgo, null);
  assert.equal(cam?.rxBytes, 0);
  assert.match(
    renderStatus(s),
    /cam 10\.8\.0\.4: offline\n {4}latest handshake: never; last received: never; endpoint: none/,
  );
  const doctor = judgePeer(cam as PeerStatus, [], "", 51820, { kind: "device", keepalive: 0 });
  assert.equal(doctor.found, "cam: offline (no handshake yet; the hub has never received from cam)");
});

test("status: received bytes never seen growing read unknown under 30 s of watching, then nothing received", async (t) => {
  let nowMs = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => nowMs);
  host.network.connect = () => ({ outcome: "timeout", error: null });
  host.peerStats.set(KEYS.nas, { latestHandshake: NOW, rxBytes: 500, txBytes: 1 });
  await service.peers();
  nowMs += 20_000;
  const early = await service.status(true);
  assert.equal(early.peers.find((p) => p.name === "nas")?.receivedSecondsAgo, null);
  assert.match(
    renderStatus(early),
    /nas is online \(last handshake 20 seconds ago\), .*unless the tunnel broke since that handshake/,
  );
  assert.doesNotMatch(renderStatus(early), /nas 10\.8\.0\.3: online\n[^\n]*last received/);
  nowMs += 10_000;
  const late = await service.status(true);
  assert.equal(late.peers.find((p) => p.name === "nas")?.receivedSecondsAgo, 30);
  assert.match(
    renderStatus(late),
    /nothing received from nas for 30 seconds \(it sends at least every 25 s\)/,
  );
});

test("status: an unreachable target says so with the ICMP's meaning; the error is in --json", async (t) => {
  const { f, line } = await filesWorking(t, { outcome: "unreachable", error: "EHOSTUNREACH" });
  assert.deepEqual(
    [f.reachable, f.probeOutcome, f.probeError, f.working],
    [false, "unreachable", "EHOSTUNREACH", false],
  );
  assert.equal(
    line,
    "NO, 10.8.0.3:8443 was unreachable from the hub (EHOSTUNREACH: an ICMP host unreachable came back (no route onward, a neighbour that does not answer, or a firewall rejecting it as admin-prohibited), or the hub has no route to it)",
  );
  const net = await filesWorking(t, { outcome: "unreachable", error: "ENETUNREACH" });
  assert.match(
    net.line,
    /^NO, 10\.8\.0\.3:8443 was unreachable from the hub \(ENETUNREACH: the hub or a router on the way has no route to its network, or a firewall rejects it as net-prohibited\)$/,
  );
});

test("status: a probe that failed on the hub itself is unknown, never NO or yes, and says its error", async (t) => {
  const { f, line } = await filesWorking(t, { outcome: "error", error: "EMFILE" });
  assert.deepEqual([f.reachable, f.probeOutcome, f.probeError, f.working], [null, "error", "EMFILE", null]);
  assert.equal(
    line,
    "unknown, the hub's probe of 10.8.0.3:8443 failed on the hub itself (EMFILE): it says nothing about the target",
  );
});

test("status: an older hub's reply (no probeOutcome) still renders, without guessing the cause", async (t) => {
  const { f } = await filesWorking(t, { outcome: "timeout", error: null });
  const { probeOutcome: _, ...old } = f;
  const text = renderStatus({
    hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
    peers: [],
    forwards: [old],
    firewall: [],
  });
  assert.match(
    text,
    /working: NO, the target did not accept a connection from the hub \(refused, timed out or unreachable: this hub does not say which\)$/m,
  );
});

// FORWARD's policy drops in the iptables flavour `iptables` writes to, and porthole's jump into its own
// chains is gone (an `iptables -F`): apply puts the jump back there; marked accepts are for the other flavour.
const FORWARD_DROP = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

test("status: an iptables hub without its FORWARD jump under a policy drop says apply puts the jump back", async (t) => {
  const { host, service } = await hub(t, "iptables");
  host.foreign = { nft: [], xtables: [{ flavour: "nft", family: 4, text: FORWARD_DROP }], iptables: "nft" };
  const text = renderStatus(await service.status(false));
  assert.match(
    text,
    /^ {2}forwards web, files, game are dropped by iptables-nft filter FORWARD \(policy drop\); porthole's accept is missing there\n {4}fix: porthole apply {3}\(puts porthole's jump back at the top of FORWARD\)$/m,
  );
  assert.doesNotMatch(text, /marked accepts|cannot override/);
});

test("status: the same drop on an nftables hub (or in the other flavour) says apply inserts marked accepts", async (t) => {
  const { host, service } = await hub(t);
  host.foreign = { nft: [], xtables: [{ flavour: "nft", family: 4, text: FORWARD_DROP }], iptables: "nft" };
  assert.match(
    renderStatus(await service.status(false)),
    /; porthole's accept is missing there\n {4}fix: porthole apply {3}\(inserts porthole's marked accepts at the top of FORWARD\)$/m,
  );
  const { host: ipt, service: iptService } = await hub(t, "iptables");
  ipt.foreign = { nft: [], xtables: [{ flavour: "legacy", family: 4, text: FORWARD_DROP }], iptables: "nft" };
  assert.match(
    renderStatus(await iptService.status(false)),
    /by iptables-legacy filter FORWARD \(policy drop\); porthole's accept is missing there\n {4}fix: porthole apply {3}\(inserts porthole's marked accepts/,
  );
});

test("status: a probe result from an earlier status says its age; what was not probed is unknown, never reachable", async (t) => {
  let nowMs = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => nowMs);
  const answers = new Set(["10.8.0.2:8080"]);
  host.network.connect = (a, p) =>
    answers.has(`${a}:${p}`)
      ? { outcome: "accepted", error: null }
      : { outcome: "refused", error: "ECONNREFUSED" };
  const first = await service.status(true);
  assert.deepEqual(
    first.forwards.map((f) => [f.name, f.probeTarget, f.reachable, f.probeAgeSeconds]),
    [
      ["web", "10.8.0.2:8080", true, 0],
      ["files", "10.8.0.3:8443", false, 0],
      ["game", null, null, null],
    ],
  );
  assert.doesNotMatch(renderStatus(first), /targets probed by this status/, "all probed now: no note");

  // 40 s later the web target hangs (a probe slower than status waits) and files answers now.
  nowMs += 40_000;
  answers.add("10.8.0.3:8443");
  const probe = host.probe.connect;
  let release: (r: ConnectResult) => void = () => {};
  host.probe.connect = async (addr, port, ms) =>
    addr === "10.8.0.2" ? new Promise<ConnectResult>((r) => (release = r)) : probe(addr, port, ms);
  const later = await service.status(true);
  release({ outcome: "timeout", error: null });
  assert.deepEqual(
    later.forwards.map((f) => [f.name, f.reachable, f.probeAgeSeconds, f.working]),
    [
      ["web", true, 40, true],
      ["files", true, 0, true],
      ["game", null, null, null],
    ],
  );
  const text = renderStatus(later);
  assert.match(
    text,
    /^forwards: counters counted now \(targets probed by this status: 1, by an earlier one: 1, not yet: 0;/m,
  );
  assert.match(
    text,
    /tcp\/80 .*\n.*working: yes \(the target accepted a connection from the hub 40 seconds ago;/,
  );
  assert.match(text, /tcp\/8443 .*\n.*working: yes \(the target accepts connections from the hub;/);

  // A target never probed (a hub with more targets than a status probes) is unknown.
  const web = later.forwards[0];
  assert.ok(web);
  Object.assign(web, { reachable: null, probeOutcome: null, probeAgeSeconds: null, working: null });
  const unknown = renderStatus(later);
  assert.match(unknown, /tcp\/80 .*\n.*working: unknown, 10\.8\.0\.2:8080 not probed yet/);
  assert.match(unknown, /by an earlier one: 0, not yet: 1;/);
});

test("status: the hub says what is wrong with its spec file, to root and admins only", async (t) => {
  const { service } = await hub(t);
  assert.equal((await service.status(false)).specProblem, null);
  const file = service.store.file;
  writeFileSync(file, SPEC("nftables").replace("targetPort: 8080", "targetPort: 99999"));
  const root = await service.statusFor({ kind: "root" }, false);
  assert.match(root.specProblem ?? "", /targetPort/);
  assert.equal(root.forwards.length, 3, "the hub runs on its last valid spec meanwhile");
  const peer = await service.statusFor(
    { kind: "peer", name: "rpi", admin: false, publicKey: "rpi-key" },
    false,
  );
  assert.equal(peer.specProblem, undefined);
});

test("status: on an iptables hub with IPv6, a forward's new connections are IPv4's and IPv6's DNAT counts summed", async (t) => {
  const { host, service } = await hub(t, "iptables\n  subnet6: fd00:8::/64");
  host.counters.set("iptables 4", [{ key: "tcp . 80", packets: 4, bytes: 240 }]);
  host.counters.set("iptables 6", [{ key: "tcp . 80", packets: 3, bytes: 240 }]);
  const s = await service.status(false);
  assert.equal(s.forwards.find((f) => f.name === "web")?.connectionsTotal, 7);
});

test("status: a count that takes long is not waited for; the status says when its numbers were counted", async (t) => {
  let clock = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => clock);
  const count = host.stats.openConnections.bind(host.stats);
  host.stats.openConnections = async (families, protos) => {
    clock += 1000; // conntrack walks a large table: a second
    return count(families, protos);
  };
  host.open = new Map([["tcp/80/10.8.0.2/8080", 3]]);
  const first = await service.status(false);
  assert.deepEqual([first.countedAt, first.countedSecondsAgo], [new Date(NOW * 1000).toISOString(), 0]);
  assert.match(renderStatus(first), /^forwards: counters counted now/m);

  host.open = new Map([["tcp/80/10.8.0.2/8080", 9]]);
  clock += 12_000;
  const answered = await service.status(false);
  assert.equal(answered.forwards[0]?.establishedConnections, 3, "the last count's number, not a new one");
  assert.deepEqual(
    [answered.countedAt, answered.countedSecondsAgo],
    [new Date(NOW * 1000).toISOString(), 13],
  );
  assert.match(renderStatus(answered), /^forwards: counters counted 13 seconds ago/m);

  await new Promise((r) => setImmediate(r)); // the count that status started ends
  const next = await service.status(false);
  assert.equal(next.forwards[0]?.establishedConnections, 9);
  assert.equal(next.countedAt, new Date((NOW + 13) * 1000).toISOString());
});

test("status: numbers kept from a count before this status are never 'counted now' (a curl just made is not in them)", async (t) => {
  let clock = NOW * 1000;
  const { host, service } = await hub(t, "nftables", () => clock);
  host.open = new Map([["tcp/80/10.8.0.2/8080", 3]]);
  const first = await service.status(false);
  assert.equal(first.countedSecondsAgo, 0, "counted by this status");
  assert.match(renderStatus(first), /^forwards: counters counted now/m);
  host.open = new Map([["tcp/80/10.8.0.2/8080", 4]]);
  clock += 400; // the next status within the census's fresh time: the last count is kept
  const kept = await service.status(false);
  assert.equal(kept.forwards[0]?.establishedConnections, 3, "the kept count's number");
  assert.equal(kept.countedSecondsAgo, 1);
  assert.match(renderStatus(kept), /^forwards: counters counted 1 second ago/m);
});

test("status and doctor word an agent peer's side alike: in step (ok), NOT in step when its apply failed (fail), not known while it is behind or silent (unknown)", () => {
  const side = (state: PeerApplied["state"], lastError: PeerApplied["lastError"] = null): PeerApplied => ({
    state,
    specHash: "0123456789abcdef",
    lastApplied: null,
    lastError,
    agentSeenSecondsAgo: 1,
    note: `note of ${state}`,
  });
  const failedBefore = { specHash: "fedcba9876543210", at: "T", error: "File exists" };
  const cases: [PeerApplied, string, string][] = [
    [side("current"), "in step", "ok"],
    [side("failed", failedBefore), "NOT in step", "fail"],
    [side("behind", failedBefore), "NOT in step", "fail"],
    [side("behind"), "NOT known to be in step", "unknown"],
    [side("silent"), "NOT known to be in step", "unknown"],
    [side("unreported"), "NOT known to be in step", "unknown"],
  ];
  for (const [a, words, status] of cases) {
    const text = renderStatus({
      hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
      peers: [
        {
          name: "rpi",
          address: "10.8.0.2",
          online: true,
          handshakeAgeSeconds: 5,
          receivedSecondsAgo: 1,
          endpoint: null,
          rxBytes: 10,
          txBytes: 10,
          admin: false,
          kind: "agent",
          applied: a,
        },
      ],
      forwards: [],
      firewall: [],
    });
    assert.match(text, new RegExp(`^ {4}spec: ${words}: note of ${a.state}$`, "m"), a.state);
    assert.equal(judgeApplied("rpi", a).status, status, a.state);
  }
});

test("a peer's own view: online by the handshake when there is no API to ask; never online when the hub's API did not answer", () => {
  const seen = (age: number | null, up = true): LocalPeerStatus => ({
    name: "rpi",
    address: "10.8.0.2",
    interface: "wg0",
    up,
    hub: {
      online: up ? age !== null && age < ONLINE_WITHIN_S : null,
      handshakeAgeSeconds: up ? age : null,
      endpoint: up ? "203.0.113.1:51820" : null,
    },
    forwards: [],
  });
  // A peer set up with apply: WireGuard's handshake is all there is to say.
  assert.match(
    renderLocalPeerStatus(seen(33)),
    /^hub: online\n {2}latest handshake: 33 seconds ago; endpoint: 203\.0\.113\.1:51820$/m,
  );
  // A joined peer whose hub's API did not answer: what the handshake shows, not "online".
  const how = "joined to hub http://10.8.0.1:51821, no status from it: what this machine sees";
  const fresh = renderLocalPeerStatus(seen(33), how, true);
  assert.doesNotMatch(fresh, /online/);
  assert.match(fresh, /^hub: not reached: its API did not answer \(why: below\)$/m);
  assert.match(
    fresh,
    /^ {2}WireGuard: latest handshake: 33 seconds ago; endpoint: 203\.0\.113\.1:51820 \(the tunnel worked then; that does not say the hub's API works\)$/m,
  );
  assert.match(
    fresh,
    /^ {2}to find out why: `porthole doctor` here checks the tunnel and the hub's API; on the hub, `porthole status` shows its daemon$/m,
  );
  assert.match(
    renderLocalPeerStatus(seen(400), how, true),
    /^ {2}WireGuard: latest handshake: 7 minutes ago; .*\(none within 3 minutes: the tunnel is down\)$/m,
  );
  assert.match(
    renderLocalPeerStatus(seen(null), how, true),
    /^ {2}WireGuard: latest handshake: none in this WireGuard session \(one starts when the tunnel is set up, and again when the agent renews it\); .*\(none within 3 minutes: the tunnel is down\)$/m,
  );
  assert.match(
    renderLocalPeerStatus(seen(null, false), how, true),
    /^ {2}WireGuard: wg0 is down: its handshakes cannot be read$/m,
  );
});
