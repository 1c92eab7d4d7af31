// `porthole doctor` on a peer, each check against the fake host: the healthy answer, and each fault
// with what it is called and what fixes it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runChecks } from "../../src/doctor/check.ts";
import { PEER_CHECKS, peerContext } from "../../src/doctor/peer.ts";
import { checkAgent } from "../../src/doctor/peer-agent.ts";
import { CLOCK_FAIL_S, judgeClock } from "../../src/doctor/peer-clock.ts";
import { checkFirewall } from "../../src/doctor/peer-firewall.ts";
import { checkHandshake, checkHubApi } from "../../src/doctor/peer-handshake.ts";
import { checkHubName } from "../../src/doctor/peer-hub-name.ts";
import { checkPathMtu, judgeMtu, largestPacket } from "../../src/doctor/peer-path-mtu.ts";
import type { PeerScene } from "../../src/doctor/peer-scene.ts";
import { checkSnatPool } from "../../src/doctor/peer-snat-pool.ts";
import { checkSpecCopy, sceneWithHubSpec } from "../../src/doctor/peer-spec.ts";
import { checkTargets, judgeTarget } from "../../src/doctor/peer-targets.ts";
import { checkTransparent } from "../../src/doctor/peer-transparent.ts";
import { parsePing, parseRouteGet } from "../../src/host/probes.ts";
import type { PingResult } from "../../src/host/types.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { specHash } from "../../src/protocol/spec-hash.ts";
import { loadSpec } from "../../src/spec/load.ts";
import type { Spec } from "../../src/spec/types.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const HUB = publicKeyOf(generatePrivateKey());
const RPI = publicKeyOf(generatePrivateKey());
const NOW = 1_800_000_000_000;

const specText = (forwards: string[], endpoint = "203.0.113.1", hubExtra = "") => `hub:
  endpoint: ${endpoint}
  publicKey: ${HUB}
${hubExtra}peers:
  - { name: rpi, publicKey: "${RPI}", address: 10.8.0.2 }
forwards:
${forwards.map((f) => `  - ${f}\n`).join("") || "  []\n"}`;

function specOf(forwards: string[], endpoint = "203.0.113.1", hubExtra = ""): Spec {
  const r = loadSpec(specText(forwards, endpoint, hubExtra));
  if (!r.ok) throw new Error(r.report);
  return r.spec;
}

const SHARE = "{ name: share, proto: tcp, port: 80, peer: rpi, targetPort: 8080 }";

function scene(
  o: {
    spec?: Spec;
    handshakeAgo?: number | null;
    endpoint?: string;
    noIface?: boolean;
    api?: string | null;
  } = {},
): { s: PeerScene; host: FakeHost } {
  const host = fakeHost();
  const spec = o.spec ?? specOf([SHARE]);
  host.ifaces.set("wg0", {
    exists: true,
    publicKey: RPI,
    listenPort: null,
    addresses: ["10.8.0.2/32"],
    routes: [],
    mtu: 1420,
    up: true,
    peers: o.noIface
      ? []
      : [
          {
            publicKey: HUB,
            allowedIps: ["10.8.0.0/24"],
            endpoint: o.endpoint ?? "203.0.113.1:51820",
            keepalive: 25,
          },
        ],
  });
  if (o.noIface) host.ifaces.delete("wg0");
  host.listeners = [{ proto: "tcp", address: "0.0.0.0", port: 8080, processes: ["rclone (pid 7)"] }];
  const ago = o.handshakeAgo === undefined ? 5 : o.handshakeAgo;
  if (ago !== null) host.peerStats.set(HUB, { latestHandshake: NOW / 1000 - ago, rxBytes: 1, txBytes: 1 });
  const me = spec.peers.find((p) => p.name === "rpi");
  if (!me) throw new Error("no rpi");
  return {
    host,
    s: {
      host,
      spec,
      me,
      api: o.api === undefined ? "http://10.8.0.1:51821" : o.api,
      stateDir: "/var/lib/porthole",
      now: () => NOW,
    },
  };
}

test("handshake: recent is ok with its endpoint; stale, never and no interface fail with what to check", async () => {
  const ok = await checkHandshake(scene().s);
  assert.equal(ok.status, "ok");
  assert.match(ok.found, /last handshake 5 seconds ago, endpoint 203\.0\.113\.1:51820/);

  const stale = await checkHandshake(scene({ handshakeAgo: 600 }).s);
  assert.equal(stale.status, "fail");
  // An age in the words the hub's status and doctor use for the same handshake (it said "600 s ago").
  assert.match(
    stale.found,
    /^last handshake 10 minutes ago \(endpoint 203\.0\.113\.1:51820\): the hub has not answered for over 135 seconds$/,
  );
  assert.match(stale.fix ?? "", /porthole doctor` on the hub.*udp\/51820|UDP out to port 51820/);
  assert.match(
    stale.fix ?? "",
    /`porthole peer ls` there \(a peer removed on the hub gets no answer either\)/,
  );

  const never = await checkHandshake(scene({ handshakeAgo: null }).s);
  assert.equal(never.status, "fail");
  // Not "never": the agent renews a silent session, which wipes WireGuard's record of earlier ones.
  assert.equal(
    never.found,
    "no handshake with the hub in this WireGuard session (endpoint 203.0.113.1:51820; a session starts when the tunnel is set up, and again when the agent renews it because the hub stopped answering)",
  );

  const none = await checkHandshake(scene({ noIface: true }).s);
  assert.equal(none.status, "fail");
  assert.match(none.found, /wg0 does not exist/);
  assert.match(none.fix ?? "", /porthole apply/);
});

test("agent: running is ok with its pid; stopped fails with how to start it; a peer set up by apply has none", async () => {
  const { s, host } = scene();
  host.daemons.set("peer", { pid: 4242, startedAt: "2026-11-30T22:00:00.000Z" });
  const ok = await checkAgent(s);
  assert.equal(ok?.status, "ok");
  assert.match(ok?.found ?? "", /porthole peer run is running \(pid 4242, since 2026-11-30T22:00:00\.000Z\)/);
  host.daemons.delete("peer");
  const stopped = await checkAgent(s);
  assert.equal(stopped?.status, "fail");
  assert.match(stopped?.found ?? "", /porthole peer run is NOT running: .*new home address/);
  assert.match(stopped?.fix ?? "", /^systemctl start porthole-peer /);
  assert.equal(await checkAgent(scene({ api: null }).s), null, "no agent on a peer set up with apply");
});

test("hub api: answered, refused (daemon down) and silent are told apart; no peer.json is unknown", async () => {
  const { s, host } = scene();
  assert.equal((await checkHubApi(s)).status, "ok");
  // GET /v1/spec, not whoami: whoami's answer hands out the outside-probe task and marks the agent heard.
  assert.deepEqual(host.probes, ["http http://10.8.0.1:51821/v1/spec"]);
  host.network.http = () => ({ error: "ECONNREFUSED" });
  const refused = await checkHubApi(s);
  assert.equal(refused.status, "fail");
  assert.match(refused.fix ?? "", /hub daemon is not running/);
  assert.equal((await checkHubApi(scene({ api: null }).s)).status, "unknown");
});

test("hub name: resolves to the tunnel's address, to another one, or not at all", async () => {
  const named = specOf([SHARE], "vps.example.net");
  const { s, host } = scene({ spec: named });
  host.dns.set("vps.example.net", ["203.0.113.1"]);
  const ok = await checkHubName(s);
  assert.equal(ok?.status, "ok");
  assert.match(ok?.found ?? "", /vps\.example\.net resolves to 203\.0\.113\.1, the address the tunnel uses/);

  host.dns.set("vps.example.net", ["203.0.113.9"]);
  const moved = await checkHubName(s);
  assert.equal(moved?.status, "warn");
  assert.match(moved?.found ?? "", /resolves to 203\.0\.113\.9 but the tunnel uses 203\.0\.113\.1/);
  assert.match(
    moved?.fix ?? "",
    new RegExp(`wg set wg0 peer ${HUB.replace(/[+/]/g, "\\$&")} endpoint 203\\.0\\.113\\.9:51820`),
  );

  host.dns.clear();
  const gone = await checkHubName(s);
  assert.equal(gone?.status, "fail");
  assert.match(gone?.found ?? "", /vps\.example\.net does not resolve/);

  assert.deepEqual(
    await checkHubName(scene().s),
    {
      status: "ok",
      found: "the endpoint is an address (203.0.113.1), the one the tunnel uses: nothing to resolve",
    },
    "an address needs no resolving; the tunnel uses it",
  );
  // An address and no endpoint on the tunnel yet: nothing resolved, nothing compared, so no row (not "ok").
  const bare = scene();
  const wg = bare.host.ifaces.get("wg0");
  for (const p of wg?.peers ?? []) p.endpoint = null;
  assert.equal(await checkHubName(bare.s), null);
});

test("targets: a service bound to loopback is named as unreachable through the tunnel, with the bind fix", async () => {
  const { s, host } = scene();
  const ok = await checkTargets(s);
  assert.deepEqual(
    ok.map((t) => [t.name, t.outcome.status]),
    [["share tcp", "ok"]],
  );
  assert.match(
    ok[0]?.outcome.found ?? "",
    /tcp\/8080 \(rclone \(pid 7\)\) answers on 10\.8\.0\.2 \(listening on 0\.0\.0\.0\)/,
  );
  assert.deepEqual(host.probes, ["connect 10.8.0.2:8080"]);

  host.listeners = [{ proto: "tcp", address: "127.0.0.1", port: 8080, processes: [] }];
  host.network.connect = () => ({ outcome: "refused", error: "ECONNREFUSED" });
  const [loop] = await checkTargets(s);
  assert.equal(loop?.outcome.status, "fail");
  assert.match(
    loop?.outcome.found ?? "",
    /listens on 127\.0\.0\.1 only: loopback is unreachable through the tunnel \(10\.8\.0\.2\)/,
  );
  assert.match(loop?.outcome.fix ?? "", /listen on 0\.0\.0\.0:8080 or 10\.8\.0\.2:8080/);

  host.listeners = [];
  const [none] = await checkTargets(s);
  assert.equal(none?.outcome.status, "fail");
  assert.equal(none?.outcome.found, "nothing listens on tcp/8080 (a connect to 10.8.0.2:8080 was refused)");

  host.listeners = [{ proto: "tcp", address: "0.0.0.0", port: 8080, processes: [] }];
  host.network.connect = () => ({ outcome: "timeout", error: null });
  const [dropped] = await checkTargets(s);
  assert.equal(
    dropped?.outcome.found,
    "tcp/8080 listens on 0.0.0.0 but a connect to 10.8.0.2:8080 timed out: a firewall on this machine drops it",
  );
  host.network.connect = () => ({ outcome: "refused", error: "ECONNREFUSED" });
  const [rejected] = await checkTargets(s);
  assert.equal(
    rejected?.outcome.found,
    "tcp/8080 listens on 0.0.0.0 but a connect to 10.8.0.2:8080 was refused: a firewall on this machine rejects it",
  );
  host.network.connect = () => ({ outcome: "unreachable", error: "EHOSTUNREACH" });
  const [prohibited] = await checkTargets(s);
  assert.equal(
    prohibited?.outcome.found,
    "tcp/8080 listens on 0.0.0.0 but a connect to 10.8.0.2:8080 was unreachable (EHOSTUNREACH): a firewall on this machine rejects it",
  );
  host.network.connect = () => ({ outcome: "error", error: "EMFILE" });
  const [failed] = await checkTargets(s);
  assert.equal(failed?.outcome.status, "unknown", "a probe that failed here says nothing about the service");
  assert.match(failed?.outcome.found ?? "", /failed here \(EMFILE\)/);
});

test("targets: a service on the LAN address only, a container behind a DNAT, UDP and ranges", () => {
  const lan = judgeTarget(
    "tcp",
    80,
    "10.8.0.2",
    [{ proto: "tcp", address: "192.168.1.5", port: 80, processes: [] }],
    { outcome: "refused", error: "ECONNREFUSED" },
  );
  assert.equal(lan.status, "fail");
  assert.match(lan.found, /listens on 192\.168\.1\.5 only: that address is unreachable/);
  const dnat = judgeTarget("tcp", 80, "10.8.0.2", [], { outcome: "accepted", error: null });
  assert.equal(dnat.status, "ok");
  assert.match(dnat.found, /through a DNAT/);
  const udp = judgeTarget(
    "udp",
    27015,
    "10.8.0.2",
    [{ proto: "udp", address: "10.8.0.2", port: 27015, processes: [] }],
    null,
  );
  assert.equal(udp.status, "ok");
  const udpLoop = judgeTarget(
    "udp",
    53,
    "10.8.0.2",
    [{ proto: "udp", address: "127.0.0.53", device: "lo", port: 53, processes: [] }],
    null,
  );
  assert.equal(udpLoop.status, "fail");
  assert.equal(judgeTarget("udp", 9, "10.8.0.2", [], null).status, "warn");
});

test("targets: a range is probed port by port (up to 16) and summarised by its worst", async () => {
  const { s, host } = scene({
    spec: specOf(["{ name: game, proto: tcp, port: 6000-6039, peer: rpi, targetPort: 6000-6039 }"]),
  });
  host.listeners = [{ proto: "tcp", address: "0.0.0.0", port: 6003, processes: [] }];
  host.network.connect = (_a, p) =>
    p === 6003 ? { outcome: "accepted", error: null } : { outcome: "refused", error: "ECONNREFUSED" };
  const [r] = await checkTargets(s);
  assert.equal(r?.outcome.status, "fail");
  assert.match(
    r?.outcome.found ?? "",
    /tcp\/6000-6039: 1 of 16 ok \(the first 16 probed\); nothing listens on tcp\/6000/,
  );
  assert.equal(host.probes.length, 16);
});

/** A path whose links carry `mtu`-byte packets; bigger ones are lost (black hole) or refused with the size. */
const path =
  (mtu: number, icmp: boolean) =>
  async (packet: number): Promise<PingResult> =>
    packet <= mtu ? { kind: "answered" } : icmp ? { kind: "too-big", mtu } : { kind: "lost" };

test("path MTU search: one probe when it fits, the told size when ICMP comes back, a binary search in a black hole", async () => {
  assert.deepEqual(await largestPacket(path(1500, false), 576, 1480), {
    largest: 1480,
    wanted: 1480,
    told: false,
    probes: 1,
  });
  assert.deepEqual(await largestPacket(path(1400, true), 576, 1480), {
    largest: 1400,
    wanted: 1480,
    told: true,
    probes: 2,
  });
  const hole = await largestPacket(path(1400, false), 576, 1480);
  assert.equal(hole.largest, 1400);
  assert.equal(hole.told, false);
  assert.ok(hole.probes <= 12, `${hole.probes} probes`);
  assert.equal((await largestPacket(async () => ({ kind: "lost" }), 576, 1480)).largest, null);
});

test("path MTU verdict: a black hole fails with the hub.mtu to set; fragmentation warns; unknown without answers", () => {
  const s = (largest: number | null, wanted: number, told = false) => ({ largest, wanted, told, probes: 1 });
  const ok = judgeMtu(1420, 4, "203.0.113.1", s(1480, 1480), s(1420, 1420));
  assert.equal(ok.status, "ok");
  assert.match(ok.found, /1420-byte packets cross the tunnel; path MTU to 203\.0\.113\.1 ≥ 1480/);

  const hole = judgeMtu(1420, 4, "203.0.113.1", s(1400, 1480), s(1340, 1420));
  assert.equal(hole.status, "fail");
  assert.match(
    hole.found,
    /packets over 1340 bytes are lost in the tunnel \(MTU 1420\): a path MTU black hole; path MTU to 203\.0\.113\.1 is 1400 \(ICMP "fragmentation needed" does not come back\)/,
  );
  assert.match(hole.fix ?? "", /mtu: 1340 \}/);

  const six = judgeMtu(1420, 6, "2001:db8::1", s(1400, 1500), s(1300, 1420));
  assert.match(six.fix ?? "", /mtu: 1320 \}/, "IPv6 underlay: 80 bytes of overhead");
  const tunnelOnly = judgeMtu(1420, 4, "203.0.113.1", s(null, 1480), s(1328, 1420));
  assert.match(tunnelOnly.fix ?? "", /mtu: 1328 \}/, "no answer over the internet: what the tunnel carried");

  const frag = judgeMtu(1420, 4, "203.0.113.1", s(1400, 1480, true), s(1420, 1420));
  assert.equal(frag.status, "warn");
  assert.match(frag.fix ?? "", /mtu: 1340 \}/);

  assert.equal(judgeMtu(1420, 4, "203.0.113.1", s(null, 1480), s(null, 1420)).status, "unknown");
  assert.equal(judgeMtu(1420, 4, "203.0.113.1", s(null, 1480), s(1420, 1420)).status, "ok");
});

test("path MTU check probes the endpoint's address over the internet and the hub's tunnel address", async () => {
  const { s, host } = scene();
  host.network.ping = (a, size) =>
    (a === "203.0.113.1" ? size + 28 <= 1400 : size + 28 <= 1340) ? { kind: "answered" } : { kind: "lost" };
  const r = await checkPathMtu(s);
  assert.equal(r.status, "fail");
  assert.match(r.fix ?? "", /mtu: 1340/);
  assert.ok(
    host.probes.includes("ping 203.0.113.1 1452"),
    "first the full WireGuard packet (1420 + 60) to the public address",
  );
  assert.ok(
    host.probes.includes("ping 10.8.0.1 1392"),
    "and a full tunnel packet to the hub's tunnel address",
  );
});

test("transparent: rule and route, marks, rp_filter; nothing to check without a transparent forward", async () => {
  assert.equal(await checkTransparent(scene().s), null);
  const spec = specOf([
    "{ name: share, proto: tcp, port: 80, peer: rpi, targetPort: 8080, mode: transparent }",
  ]);
  const { s, host } = scene({ spec });
  host.fw.nft = { marker: "x", generations: [1] };
  host.routes = true;
  host.sysctls.set("net.ipv4.conf.wg0.rp_filter", "2");
  host.network.route = (_a, mark) => ({ device: mark ? "wg0" : "eth0", source: null, gateway: null });
  const ok = await checkTransparent(s);
  assert.equal(ok?.status, "ok");
  assert.match(ok?.found ?? "", /a marked reply to 203\.0\.113\.1 leaves by wg0/);

  host.routes = false;
  host.network.route = () => ({ device: "eth0", source: null, gateway: null });
  const broken = await checkTransparent(s);
  assert.equal(broken?.status, "fail");
  assert.match(
    broken?.found ?? "",
    /the rule `fwmark 0x5180\/0x5180 lookup 5180` or table 5180's route via wg0 is missing/,
  );
  assert.match(broken?.found ?? "", /a marked reply to 203\.0\.113\.1 leaves by eth0, not wg0/);
  assert.match(broken?.fix ?? "", /porthole apply/);

  host.routes = true;
  host.fw.nft = null;
  host.sysctls.set("net.ipv4.conf.wg0.rp_filter", "1");
  host.network.route = (_a, mark) => ({ device: mark ? "wg0" : "eth0", source: null, gateway: null });
  const marks = await checkTransparent(s);
  assert.match(marks?.found ?? "", /table inet porthole \(which marks transparent connections\) is missing/);
  assert.match(marks?.found ?? "", /net\.ipv4\.conf\.wg0\.rp_filter is 1, not 2/);
});

test("hub-api: silence names all its causes, this peer removed on the hub among them (the handshake still reads ok)", async () => {
  const { s, host } = scene();
  host.network.http = () => ({ error: "no answer within 3 s" });
  const r = await checkHubApi(s);
  assert.equal(r.status, "fail");
  assert.equal(
    r.fix,
    "see the handshake line; on the hub: porthole status (its daemon), and porthole peer ls (whether this peer is still there: the hub drops a removed peer's packets)",
  );
});

test("clock: against the hub's Date header; minutes apart fail, tens of seconds warn", () => {
  assert.equal(judgeClock(400, 5).status, "ok");
  const warn = judgeClock(-45_000, 5);
  assert.equal(warn.status, "warn");
  assert.match(warn.found, /45 s ahead of the hub's/);
  const fail = judgeClock(CLOCK_FAIL_S * 1000 + 10_000, 5);
  assert.equal(fail.status, "fail");
  assert.match(fail.found, /310 s behind the hub's/);
  assert.match(fail.fix ?? "", /timedatectl set-ntp true/);
});

test("the whole run on a healthy peer is all ok; a thrown check is unknown, never ok", async () => {
  const { s, host } = scene();
  host.daemons.set("peer", { pid: 4242, startedAt: "2026-11-30T22:00:00.000Z" });
  const all = await runChecks(PEER_CHECKS, s);
  assert.deepEqual(
    all.map((c) => [c.id, c.status]),
    [
      ["agent", "ok"],
      ["handshake", "ok"],
      ["hub-api", "ok"],
      ["hub-name", "ok"],
      ["target share tcp", "ok"],
      ["firewall share tcp", "ok"],
      ["path-mtu", "ok"],
      ["clock", "ok"],
    ],
  );
  host.network.ping = () => {
    throw new Error("ping: not installed");
  };
  const mtu = (await runChecks(PEER_CHECKS, s)).find((c) => c.id === "path-mtu");
  assert.equal(mtu?.status, "unknown");
  assert.match(mtu?.found ?? "", /ping: not installed/);
});

test("without wg0: the handshake fails saying how to bring it up; every check through the tunnel is not judged, none blames a firewall", async () => {
  const { s, host } = scene({ noIface: true });
  host.daemons.set("peer", { pid: 4242, startedAt: "2026-11-30T22:00:00.000Z" });
  // What a missing interface looks like from here: a connect to its address goes unanswered.
  host.network.connect = () => ({ outcome: "timeout", error: null });
  const all = await runChecks(PEER_CHECKS, s);
  // Nothing is sent through the missing tunnel only to be discarded (each would wait out its timeout).
  assert.deepEqual(host.probes, []);
  const NOT = "not checked because wg0 does not exist (see the handshake line)";
  assert.deepEqual(
    all.map((c) => [c.id, c.status, c.status === "unknown" ? c.found : ""]),
    [
      ["agent", "ok", ""],
      ["handshake", "fail", ""],
      ["hub-api", "unknown", NOT],
      // An address endpoint and no tunnel to compare it with: nothing checked, no row (it said ok).
      ["target share tcp", "unknown", NOT],
      ["firewall share tcp", "ok", ""],
      ["path-mtu", "unknown", NOT],
      ["clock", "unknown", NOT],
    ],
  );
  const shake = all.find((c) => c.id === "handshake");
  assert.equal(
    shake?.found,
    "wg0 does not exist: no tunnel to the hub (the checks through it are not judged)",
  );
  assert.match(shake?.fix?.[0] ?? "", /^bring it up: porthole apply/);
  assert.ok(all.every((c) => !/firewall on this machine drops/.test(c.found)));
});

test("ping and route output are read as the tools write them", () => {
  assert.deepEqual(parsePing(0, "1 received", ""), { kind: "answered" });
  assert.deepEqual(parsePing(1, "", "ping: local error: message too long, mtu=1400\n"), {
    kind: "too-big",
    mtu: 1400,
  });
  assert.deepEqual(parsePing(1, "From 192.168.77.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)\n", ""), {
    kind: "too-big",
    mtu: 1400,
  });
  assert.deepEqual(parsePing(1, "1 packets transmitted, 0 received, 100% packet loss", ""), { kind: "lost" });
  assert.deepEqual(parsePing(2, "", "ping: connect: Network is unreachable\n"), {
    kind: "error",
    message: "ping: connect: Network is unreachable",
  });
  assert.deepEqual(
    parseRouteGet(
      '[{"dst":"10.99.99.99","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]',
    ),
    { device: "eth0", source: "192.0.2.2", gateway: "192.0.2.1" },
  );
});

test("snat pool: in the hub's AllowedIPs and routed into the tunnel is ok; a missing one or a route elsewhere fails; no pool, nothing", async () => {
  const pooled = specOf([SHARE], "203.0.113.1", "  snatPool: 240.0.0.0/8\n");
  assert.equal(await checkSnatPool(scene().s), null, "no hub.snatPool: nothing to check");
  assert.equal(
    await checkSnatPool(
      scene({
        spec: specOf(
          ["{ name: share, proto: tcp, port: 80, peer: rpi, targetPort: 8080, mode: transparent }"],
          "203.0.113.1",
          "  snatPool: 240.0.0.0/8\n",
        ),
      }).s,
    ),
    null,
    "a transparent peer routes replies by their mark (checked by transparent)",
  );

  // The scene's hub peer has AllowedIPs 10.8.0.0/24 only, and replies leave by eth0 (the fake's default).
  const bare = scene({ spec: pooled });
  const fail = await checkSnatPool(bare.s);
  assert.equal(fail?.status, "fail");
  assert.match(fail?.found ?? "", /AllowedIPs \(10\.8\.0\.0\/24\) lack 240\.0\.0\.0\/8/);
  assert.match(fail?.found ?? "", /porthole's route 240\.0\.0\.0\/8 dev wg0 is missing/);
  assert.match(fail?.found ?? "", /a reply to 240\.0\.0\.1 leaves by eth0, not wg0/);
  assert.match(fail?.fix ?? "", /^porthole apply/);

  // porthole's route and AllowedIPs in place, but another program's route takes the pool.
  const taken = scene({ spec: pooled });
  const wg = taken.host.ifaces.get("wg0");
  if (wg?.peers[0]) wg.peers[0].allowedIps = ["10.8.0.0/24", "240.0.0.0/8"];
  if (wg) wg.routes = ["240.0.0.0/8"];
  const other = await checkSnatPool(taken.s);
  assert.equal(other?.status, "fail");
  assert.match(other?.found ?? "", /: a reply to 240\.0\.0\.1 leaves by eth0, not wg0$/);
  assert.match(
    other?.fix ?? "",
    /^another route takes 240\.0\.0\.1 \(see `ip route get 240\.0\.0\.1`\): remove it, or set hub\.snatPool/,
  );

  const good = scene({ spec: pooled });
  const gwg = good.host.ifaces.get("wg0");
  if (gwg?.peers[0]) gwg.peers[0].allowedIps = ["10.8.0.0/24", "240.0.0.0/8"];
  if (gwg) gwg.routes = ["240.0.0.0/8"];
  good.host.network.route = (a) =>
    a.startsWith("240.") ? { device: "wg0", source: "10.8.0.2", gateway: null } : null;
  const ok = await checkSnatPool(good.s);
  assert.equal(ok?.status, "ok", ok?.found);
  assert.match(
    ok?.found ?? "",
    /snat clients arrive from 240\.0\.0\.0\/8: in the hub's AllowedIPs, and a reply to 240\.0\.0\.1 leaves by wg0/,
  );

  // Another program's route to the very prefix (the pool is the home LAN): the kernel refuses porthole's
  // route, and the apply is rolled back, AllowedIPs too: not apply's to fix.
  const lan = scene({ spec: pooled });
  lan.host.network.routesWithin = () => [{ dst: "240.0.0.0/8", device: "eth0", type: "unicast" }];
  const refused = await checkSnatPool(lan.s);
  assert.match(refused?.found ?? "", /another program's route 240\.0\.0\.0\/8 dev eth0 takes the pool$/);
  assert.match(refused?.fix ?? "", /^another route takes 240\.0\.0\.0\/8 dev eth0 \(see `ip route show root/);

  // Another program's route inside the pool, away from the address probed: named, and not apply's to fix.
  good.host.network.routesWithin = () => [
    { dst: "240.5.0.0/16", device: "eth0", type: "unicast" },
    { dst: "240.6.0.0/16", device: null, type: "blackhole" },
  ];
  const inside = await checkSnatPool(good.s);
  assert.equal(inside?.status, "fail");
  assert.match(
    inside?.found ?? "",
    /: another program's route 240\.5\.0\.0\/16 dev eth0, blackhole 240\.6\.0\.0\/16 takes part of the pool$/,
  );
  assert.match(
    inside?.fix ?? "",
    /^another route takes 240\.5\.0\.0\/16 dev eth0, blackhole 240\.6\.0\.0\/16 \(see `ip route show root 240\.0\.0\.0\/8`\): remove it/,
  );

  // The pool holds this machine's own LAN (the kernel's route of an address here, as a pool of
  // 192.168.0.0/16 over a 192.168.77.0/24 home network): the pool must move, the route must not go.
  good.host.network.routesWithin = () => [
    { dst: "240.5.0.0/16", device: "eth0", type: "unicast", protocol: "kernel" },
  ];
  const lanInside = await checkSnatPool(good.s);
  assert.equal(lanInside?.status, "fail");
  assert.match(
    lanInside?.found ?? "",
    /: this machine's own network 240\.5\.0\.0\/16 \(an address on eth0\) is part of the pool$/,
  );
  assert.match(
    lanInside?.fix ?? "",
    /^set hub\.snatPool in the hub's porthole\.yaml to a prefix this machine does not route/,
  );
  assert.doesNotMatch(lanInside?.fix ?? "", /remove it/, "never advise removing the machine's own LAN route");
});

const TUNNEL_ONLY = "-A INPUT -i wg0 ! -s 10.8.0.0/24 -p tcp -m tcp --dport 8080 -j DROP";
const iptables = (rules: string[], policy = "ACCEPT") =>
  `*filter\n:INPUT ${policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules.map((r) => `${r}\n`).join("")}COMMIT\n`;

async function firewallOf(spec: Spec, rules: string[], policy?: string) {
  const { s, host } = scene({ spec });
  host.foreign = {
    nft: [],
    xtables: [{ flavour: "nft", family: 4, text: iptables(rules, policy) }],
    iptables: "nft",
  };
  return (await checkFirewall(s))[0]?.outcome;
}

test("firewall: a rule admitting only the tunnel subnet fails for the clients each mode delivers; the hub's own address passes", async () => {
  const transparent = specOf([
    "{ name: share, proto: tcp, port: 80, peer: rpi, targetPort: 8080, mode: transparent }",
  ]);
  const t = await firewallOf(transparent, [TUNNEL_ONLY]);
  assert.equal(t?.status, "fail");
  assert.match(t?.found ?? "", /tcp\/8080: .*rule `-A INPUT -i wg0 ! -s 10\.8\.0\.0\/24 .*-j DROP`/);
  assert.match(t?.found ?? "", /from a client's own address \(198\.51\.100\.1\)/);
  assert.match(t?.fix ?? "", /ufw allow in on wg0 to any port 8080 proto tcp/);

  const pooled = specOf([SHARE], "203.0.113.1", "  snatPool: 240.0.0.0/8\n");
  const p = await firewallOf(pooled, [TUNNEL_ONLY]);
  assert.equal(p?.status, "fail");
  assert.match(p?.found ?? "", /the hub's SNAT pool 240\.0\.0\.0\/8 \(240\.0\.0\.1\)/);

  // snat without a pool: clients arrive from the hub's tunnel address, which the rule admits.
  const plain = await firewallOf(specOf([SHARE]), [TUNNEL_ONLY]);
  assert.equal(plain?.status, "ok");
  assert.match(plain?.found ?? "", /from the hub's tunnel address \(10\.8\.0\.1\)/);

  // Accepting wg0 from any source ahead of the rule (the fix) clears it.
  const fixed = await firewallOf(transparent, [
    "-A INPUT -i wg0 -p tcp -m tcp --dport 8080 -j ACCEPT",
    TUNNEL_ONLY,
  ]);
  assert.equal(fixed?.status, "ok");
});

test("firewall: a drop policy fails naming the policy; an undecidable test warns; no forward, no check", async () => {
  const pol = await firewallOf(specOf([SHARE]), [], "DROP");
  assert.equal(pol?.status, "fail");
  assert.match(pol?.found ?? "", /chain INPUT, its policy/);

  const maybe = await firewallOf(specOf([SHARE]), ["-A INPUT -m recent --rcheck -j DROP"]);
  assert.equal(maybe?.status, "warn");
  assert.match(maybe?.found ?? "", /may drop/);

  assert.deepEqual(await checkFirewall(scene({ spec: specOf([]) }).s), []);
});

test("spec copy: the hub's spec is compared with this peer's copy; a copy behind is named, and the other checks judge the hub's", async () => {
  const copyText = specText([SHARE]);
  const { s, host } = scene({ spec: specOf([SHARE]) });
  assert.equal(
    await checkSpecCopy(s),
    null,
    "nothing to compare without the CLI's answer (a peer set up by apply)",
  );

  const current = sceneWithHubSpec(s, copyText, { hash: specHash(copyText) });
  assert.deepEqual(current.copy, { state: "current" });
  assert.equal(current.spec, s.spec);
  assert.equal((await checkSpecCopy(current))?.status, "ok");

  // An admin added a transparent forward to rpi and moved the SNAT pool while the agent was stopped.
  const added = "{ name: cam, proto: tcp, port: 85, peer: rpi, targetPort: 8081, mode: transparent }";
  const hubText = specText([SHARE, added], "203.0.113.1", "  snatPool: 240.0.0.0/8\n");
  const behind = sceneWithHubSpec(s, copyText, { hash: specHash(hubText), text: hubText });
  assert.deepEqual(behind.copy, {
    state: "behind",
    changed: ["the hub's hub.snatPool", "forwards new on the hub: cam"],
  });
  assert.deepEqual(
    behind.spec.forwards.map((f) => f.name),
    ["share", "cam"],
    "judged by the hub's spec",
  );
  const stopped = await checkSpecCopy(behind);
  assert.equal(stopped?.status, "fail");
  assert.match(
    stopped?.found ?? "",
    /has not taken the hub's latest spec \(it differs in: the hub's hub\.snatPool; forwards new on the hub: cam\): the agent, .* is not running/,
  );
  assert.match(stopped?.fix ?? "", /^systemctl start porthole-peer /);
  host.daemons.set("peer", { pid: 4242, startedAt: "2026-11-30T22:00:00.000Z" });
  const running = await checkSpecCopy(behind);
  assert.equal(running?.status, "warn", "a running agent takes it within 2 s");
  assert.match(running?.found ?? "", /though its agent runs \(pid 4242/);
  // The checks that read the spec see the new forward: its target, and the transparent routing,
  // whose fix is the agent (`porthole apply` would apply the stale copy).
  const all = await runChecks(PEER_CHECKS, behind);
  assert.deepEqual(
    all.filter((c) => /^(spec|target|transparent)/.test(c.id)).map((c) => c.id),
    ["spec", "target share tcp", "target cam tcp", "transparent"],
  );
  assert.equal(all.find((c) => c.id === "transparent")?.status, "fail");
  assert.match(all.find((c) => c.id === "transparent")?.fix?.[0] ?? "", /let the agent take the hub's spec/);
  assert.match(
    (await checkTransparent({ ...behind, copy: undefined }))?.fix ?? "",
    /^porthole apply/,
    "in step: apply",
  );

  const silent = sceneWithHubSpec(s, copyText, { error: "ECONNREFUSED" });
  assert.equal(silent.spec, s.spec, "no answer: the copy's spec");
  const unknown = await checkSpecCopy(silent);
  assert.equal(unknown?.status, "unknown");
  assert.match(
    unknown?.found ?? "",
    /not compared with the hub's spec: the hub's API did not answer \(ECONNREFUSED\)/,
  );
  const broken = sceneWithHubSpec(s, copyText, { hash: "x", text: "hub: [" });
  assert.equal(broken.copy?.state, "unknown");
  assert.equal(broken.spec, s.spec);
});

test("peerContext: a joined peer without wg0 does not ask the hub for its spec (it could only time out)", async () => {
  const { host } = scene({ noIface: true });
  await host.files.write("/state/peer.json", JSON.stringify({ name: "rpi", api: "http://10.8.0.1:7777" }));
  await host.files.write("/etc/porthole.yaml", specText([SHARE]));
  const asked: string[] = [];
  const askHub = async (api: string) => {
    asked.push(api);
    return { error: "no answer through the tunnel" };
  };
  const s = await peerContext(host, "/state", "/etc", askHub);
  assert.deepEqual(asked, []);
  assert.deepEqual(s.copy, { state: "unknown", why: "wg0 does not exist" });
  // With the tunnel there, it asks.
  const up = scene().host;
  await up.files.write("/state/peer.json", JSON.stringify({ name: "rpi", api: "http://10.8.0.1:7777" }));
  await up.files.write("/etc/porthole.yaml", specText([SHARE]));
  await peerContext(up, "/state", "/etc", askHub);
  assert.deepEqual(asked, ["http://10.8.0.1:7777"]);
});
