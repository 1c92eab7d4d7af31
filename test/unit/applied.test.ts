// What an agent peer applied, as its agent reports it, and what the hub makes of it: a forward whose
// target answers the hub's probe reads working only when its peer applied the spec the hub serves it
// (the probe comes from the hub's own address; clients come through what the peer's apply sets up).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { HUB_CHECKS } from "../../src/doctor/hub.ts";
import { judgeApplied as doctorJudge } from "../../src/doctor/hub-applied.ts";
import type { HubContext as DoctorContext } from "../../src/doctor/hub-context.ts";
import { hostFiles } from "../../src/host/files.ts";
import { hubApi } from "../../src/hub/api.ts";
import { AppliedLog, judgeApplied, UNREPORTED_AFTER_MS, withApplied } from "../../src/hub/applied.ts";
import { renderMetrics } from "../../src/hub/metrics.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { ApplyReporter } from "../../src/peer/applied.ts";
import type { AppliedReport } from "../../src/protocol/requests.ts";
import { summarizeForwards } from "../../src/protocol/status-summary.ts";
import { renderStatus } from "../../src/protocol/status-text.ts";
import { fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const KEYS = { rpi: publicKeyOf(generatePrivateKey()), phone: publicKeyOf(generatePrivateKey()) };
const NOW = 1_800_000_000_000;
const H1 = "1111111111111111";
const H2 = "2222222222222222";

const SPEC = (pool = "240.0.0.0/8") => `hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
  snatPool: ${pool}
peers:
  - name: rpi
    publicKey: "${KEYS.rpi}"
    address: 10.8.0.2
  - name: phone
    publicKey: "${KEYS.phone}"
    address: 10.8.0.3
    kind: device
forwards:
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080
  - name: cam
    port: 8443
    peer: phone
`;

/** A hub daemon's service (taking reports) on the fake host; requests as rpi through the tunnel. */
async function hub(t: TestContext, opts: { reports?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "porthole-applied-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const specFile = join(dir, "porthole.yaml");
  writeFileSync(specFile, SPEC());
  const host = fakeHost({ "/k": hubKey });
  let clock = NOW;
  const service = new HubService(
    { host, keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" },
    new SpecStore(hostFiles, specFile, dir),
    () => clock,
  );
  if (opts.reports !== false) service.applied = new AppliedLog(NOW);
  await service.reconcile();
  const tcp = hubApi(service, "tcp");
  const asRpi = (method: string, path: string, body?: unknown) =>
    tcp.request(
      path,
      {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      },
      { incoming: { socket: { remoteAddress: "10.8.0.2" } } },
    );
  const whoami = async () =>
    (await (await asRpi("GET", "/v1/whoami")).json()) as { specHash: string; applied?: unknown };
  return {
    service,
    specFile,
    asRpi,
    whoami,
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

const report = (
  specHash: string,
  error: string | null = null,
  at = "2027-01-15T08:00:00.000Z",
): AppliedReport => ({
  specHash,
  at,
  error,
  lastApplied: error ? null : { specHash, at },
});

test("status: an agent peer's forward reads working only once the peer reported applying the spec it is served", async (t) => {
  const h = await hub(t);
  // Its agent polls but has not reported yet: the hub's probe is accepted, and yet not "working".
  const { specHash } = await h.whoami();
  let s = await h.service.status();
  const web = () => s.forwards.find((f) => f.name === "web");
  assert.equal(web()?.probeOutcome, "accepted");
  assert.equal(web()?.working, null);
  assert.match(web()?.peerSpec ?? "", /rpi's agent has not reported what it applied yet/);
  // The device peer (no agent) is judged as before: by the probe alone.
  const cam = s.forwards.find((f) => f.name === "cam");
  assert.deepEqual([cam?.working, cam?.peerSpec], [true, undefined]);
  assert.equal(s.peers.find((p) => p.name === "phone")?.applied, null);

  // The agent reports the spec it was served: working.
  assert.equal((await h.asRpi("POST", "/v1/applied", report(specHash))).status, 200);
  assert.deepEqual((await h.whoami()).applied, { specHash, error: null }, "whoami echoes the record");
  s = await h.service.status();
  assert.deepEqual([web()?.working, web()?.peerSpec], [true, undefined]);
  assert.equal(s.peers.find((p) => p.name === "rpi")?.applied?.state, "current");

  // The pool changes on the hub: the peer must route the new pool. Until it reports, not working.
  writeFileSync(h.specFile, SPEC("240.1.0.0/16"));
  s = await h.service.status();
  assert.equal(web()?.working, null);
  assert.match(
    web()?.peerSpec ?? "",
    new RegExp(
      `rpi has not applied this spec .*it applied ${specHash.slice(0, 8)} at 2027-01-15T08:00:00.000Z`,
    ),
  );
  const text = renderStatus(s);
  assert.match(text, /working: unknown, rpi has not applied this spec .*the hub's own probe was accepted/);
  assert.match(text, /rpi 10\.8\.0\.2: .*\n.*\n {4}spec: NOT known to be in step: rpi has not applied/);
  assert.doesNotMatch(text, /^ {2}web.*\n.*working: yes/m);

  // Its apply of the new spec fails (another route to the pool): still not working, and the error is said.
  const logged: string[] = [];
  h.service.onPeerApply = (l) => logged.push(l);
  const next = (await h.whoami()).specHash;
  assert.notEqual(next, specHash);
  const routeError =
    "ip route add 240.1.0.0/16: File exists\nthe host was put back as it was before this apply";
  await h.asRpi("POST", "/v1/applied", report(next, routeError));
  await h.asRpi("POST", "/v1/applied", report(next, routeError));
  assert.deepEqual(
    logged,
    [
      `peer rpi: its apply of spec ${next} failed: ip route add 240.1.0.0/16: File exists; the host was put back as it was before this apply`,
    ],
    "logged once",
  );
  s = await h.service.status();
  const rpi = s.peers.find((p) => p.name === "rpi")?.applied;
  assert.equal(rpi?.state, "failed");
  assert.deepEqual(
    rpi?.lastApplied,
    { specHash, at: "2027-01-15T08:00:00.000Z" },
    "the last success is kept",
  );
  // One line, however many the error has; what the peer runs meanwhile is said.
  assert.match(
    web()?.peerSpec ?? "",
    /^rpi's apply of this spec failed at .*: ip route add 240\.1\.0\.0\/16: File exists; the host was put back as it was before this apply \(it runs what it applied before: [0-9a-f]{8} at 2027-01-15T08:00:00\.000Z\); on rpi: /,
  );
  assert.match(web()?.peerSpec ?? "", /porthole doctor, and the agent's log/);
  assert.equal(web()?.working, null);
  // Listed among the problems when a large hub's forwards are summed up.
  assert.equal(summarizeForwards(s.forwards).summary.problems, 1);
  assert.match(renderMetrics(s, h.service.stats), /^porthole_peer_spec_applied\{peer="rpi"\} 0$/m);
  assert.doesNotMatch(renderMetrics(s, h.service.stats), /porthole_peer_spec_applied\{peer="phone"/);

  // Applied at last: working again.
  await h.asRpi("POST", "/v1/applied", report(next));
  assert.equal(logged[1], `peer rpi: applied spec ${next} (its apply failed before)`);
  s = await h.service.status();
  assert.equal(web()?.working, true);
  assert.match(renderMetrics(s, h.service.stats), /^porthole_peer_spec_applied\{peer="rpi"\} 1$/m);
});

test("status: a change to the peer's own settings needs its apply for every forward (a new tunnel address); a new forward for itself only; another peer's change not at all", async (t) => {
  const h = await hub(t);
  const accept = async () => {
    const { specHash } = await h.whoami();
    await h.asRpi("POST", "/v1/applied", report(specHash));
    return specHash;
  };
  const webWorking = async () => (await h.service.status()).forwards.find((f) => f.name === "web")?.working;
  await accept();
  assert.equal(await webWorking(), true);
  // A transparent forward: only rpi's apply routes its replies back through the tunnel (its mark
  // route), so it is unknown until then; web, the same in both specs, keeps its judgement.
  let text = `${SPEC()}  - { name: ssh, port: 2200, peer: rpi, targetPort: 22, mode: transparent }\n`;
  writeFileSync(h.specFile, text);
  let s = await h.service.status();
  const fwd = (name: string) => s.forwards.find((f) => f.name === name);
  assert.deepEqual([fwd("web")?.working, fwd("web")?.peerSpec], [true, undefined], "web unchanged");
  assert.equal(fwd("ssh")?.working, null, "the new forward: not working until rpi applied it");
  assert.match(fwd("ssh")?.peerSpec ?? "", /rpi has not applied this spec/);
  assert.deepEqual(s.peers.find((p) => p.name === "rpi")?.applied?.forwardsChanged, ["ssh"]);
  // web changed (another target port): unknown until applied.
  writeFileSync(h.specFile, text.replace("targetPort: 8080", "targetPort: 8081"));
  assert.equal(await webWorking(), null, "a changed forward: not working until rpi applied it");
  writeFileSync(h.specFile, text);
  assert.equal(await webWorking(), true, "back as rpi runs it");
  await accept();
  s = await h.service.status();
  assert.deepEqual([fwd("web")?.working, fwd("ssh")?.working], [true, true], "both once applied");
  // rpi's own entry (its tunnel address): every forward of it.
  text = text.replace("address: 10.8.0.2", "address: 10.8.0.9");
  writeFileSync(h.specFile, text);
  s = await h.service.status();
  assert.deepEqual([fwd("web")?.working, fwd("ssh")?.working], [null, null], "rpi's own settings changed");
  // Another peer's forward is not in rpi's part of the spec (a peer that is not an admin sees its own).
  const h2 = await hub(t);
  await (async () => {
    const { specHash } = await h2.whoami();
    await h2.asRpi("POST", "/v1/applied", report(specHash));
  })();
  writeFileSync(h2.specFile, `${SPEC()}  - { name: cam2, port: 8444, peer: phone, targetPort: 8444 }\n`);
  const other = await h2.service.status();
  assert.equal(other.forwards.find((f) => f.name === "web")?.working, true);
});

test("status: a target that does not answer stays NO whatever the peer applied (never raised to unknown)", async (t) => {
  const h = await hub(t);
  (h.service.ctx.host as ReturnType<typeof fakeHost>).network.connect = () => ({
    outcome: "refused",
    error: null,
  });
  const s = await h.service.status();
  const web = s.forwards.find((f) => f.name === "web");
  assert.equal(web?.working, false);
  assert.ok(web?.peerSpec, "the peer's side is still said");
});

test("status: an agent that polls for long without reporting is older than the hub: unknown, not working", async (t) => {
  const h = await hub(t);
  await h.whoami();
  h.tick(UNREPORTED_AFTER_MS);
  await h.whoami();
  const s = await h.service.status();
  assert.equal(s.peers.find((p) => p.name === "rpi")?.applied?.state, "unreported");
  assert.match(
    s.forwards.find((f) => f.name === "web")?.peerSpec ?? "",
    /rpi's agent does not report what it applied \(older than this hub\?\)/,
  );
  assert.equal(s.forwards.find((f) => f.name === "web")?.working, null);
});

test("status: an agent never heard since the hub started (stopped) is said so, with where to look", async (t) => {
  const h = await hub(t);
  h.tick(90_000);
  const s = await h.service.status();
  const a = s.peers.find((p) => p.name === "rpi")?.applied;
  assert.equal(a?.state, "silent");
  assert.equal(a?.agentSeenSecondsAgo, null);
  assert.match(
    a?.note ?? "",
    /rpi's agent has not been heard since the hub started 90 seconds ago: .*is porthole's agent running there\?/,
  );
});

test("status: a hub that takes no reports (no daemon) judges as before and says nothing of the peers' side", async (t) => {
  const h = await hub(t, { reports: false });
  const s = await h.service.status();
  assert.equal(s.forwards.find((f) => f.name === "web")?.working, true);
  assert.equal(s.peers.find((p) => p.name === "rpi")?.applied, undefined);
  assert.equal((await h.whoami()).applied, undefined, "no echo: the agent sends no report");
  assert.equal((await h.asRpi("POST", "/v1/applied", report(H1))).status, 404);
});

test("POST /v1/applied: a report is checked against its schema (a hash, a time)", async (t) => {
  const h = await hub(t);
  const bad = await h.asRpi("POST", "/v1/applied", { ...report(H1), specHash: "nope" });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /specHash/);
  assert.equal((await h.asRpi("POST", "/v1/applied", { ...report(H1), extra: 1 })).status, 400);
  // Root has no agent: it cannot report for a peer.
  const unix = hubApi(h.service, "unix");
  const r = await unix.request("/v1/applied", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(report(H1)),
  });
  assert.equal(r.status, 403);
});

test("judgeApplied: behind with a failed older apply, and an agent heard long ago, say both", () => {
  const a = judgeApplied(
    "rpi",
    H2,
    {
      attempt: { specHash: H1, at: "T1", error: "boom" },
      lastApplied: { specHash: "0000000000000000", at: "T0" },
    },
    { firstMs: NOW, lastMs: NOW },
    { nowMs: NOW + 300_000, startedMs: NOW },
  );
  assert.equal(a.state, "behind");
  assert.equal(
    a.note,
    "rpi has not applied this spec (22222222): it applied 00000000 at T0; its last apply (of 11111111) failed: boom; its agent was last heard 5 minutes ago; on rpi: porthole doctor, and the agent's log (journalctl -u porthole-peer)",
  );
});

test("the records of a peer removed from the spec go when that spec is applied, not on a read", async (t) => {
  const h = await hub(t);
  const { specHash } = await h.whoami();
  await h.asRpi("POST", "/v1/applied", report(specHash));
  // A hand edit removes rpi (and its forward); status and the peers' list read, change nothing.
  writeFileSync(
    h.specFile,
    SPEC()
      .replace(/ {2}- name: rpi\n(.*\n){2}/, "")
      .replace(/ {2}- name: web\n(.*\n){3}/, ""),
  );
  const { spec } = await h.service.live();
  assert.deepEqual(
    spec.peers.map((p) => p.name),
    ["phone"],
  );
  await h.service.status();
  await h.service.peers();
  assert.deepEqual(h.service.applied?.echo(KEYS.rpi), { specHash, error: null }, "a read keeps the records");
  await h.service.reconcile();
  assert.equal(h.service.applied?.echo(KEYS.rpi), null, "applying the spec without rpi forgets it");
});

test("AppliedLog: a report without lastApplied (a restarted agent whose apply failed) keeps the success known", () => {
  const log = new AppliedLog(NOW);
  const parts = { base: "b", forwards: new Map([["web", "w"]]) };
  log.report("rpi", report(H1), { hash: H1, parts });
  log.report("rpi", { specHash: H2, at: "T2", error: "boom", lastApplied: null }, { hash: H2, parts });
  const a = log.judge("rpi", "rpi", { hash: H2, parts }, NOW);
  assert.deepEqual(a.lastApplied, { specHash: H1, at: "2027-01-15T08:00:00.000Z" });
  assert.deepEqual(a.forwardsChanged, [], "what H1 held is kept with it: web is the same");
  log.keepOnly(new Set());
  assert.equal(log.echo("rpi"), null, "a removed peer is forgotten");
});

test("AppliedLog: what a spec held is known only for one the hub served; else (a restarted hub) every forward is unknown", () => {
  const log = new AppliedLog(NOW);
  const parts = (web: string) => ({ base: "b", forwards: new Map([["web", web]]) });
  // A restarted hub serves H2; the agent reports its failed apply of H2 and its success H1 from before.
  log.report(
    "rpi",
    { ...report(H2, "boom"), lastApplied: { specHash: H1, at: "T1" } },
    { hash: H2, parts: parts("w") },
  );
  assert.equal(log.judge("rpi", "rpi", { hash: H2, parts: parts("w") }, NOW).forwardsChanged, null);
  // Served H1 when it reported it: kept, and later compared with what is served then.
  log.report("rpi", report(H1), { hash: H1, parts: parts("w") });
  const served = (web: string, base = "b") => ({ hash: H2, parts: { ...parts(web), base } });
  assert.deepEqual(log.judge("rpi", "rpi", served("w"), NOW).forwardsChanged, []);
  assert.deepEqual(log.judge("rpi", "rpi", served("w2"), NOW).forwardsChanged, ["web"]);
  assert.equal(
    log.judge("rpi", "rpi", served("w", "b2"), NOW).forwardsChanged,
    null,
    "its own settings changed",
  );
});

test("withApplied: only a forward of an agent peer not in step changes; working true becomes unknown", () => {
  const fwd = (name: string, peer: string, working: boolean | null) =>
    ({ name, peer, working }) as unknown as Parameters<typeof withApplied>[0]["forwards"][number];
  // Both applied H1: peer a is served H1 (current), peer b H2 (behind).
  const servedH1 = (name: string, served: string) =>
    judgeApplied(name, served, { attempt: { specHash: H1, at: "T", error: null }, lastApplied: null }, null, {
      nowMs: NOW,
      startedMs: NOW,
    });
  const current = servedH1("a", H1);
  const behind = servedH1("b", H2);
  const out = withApplied(
    {
      peers: [],
      forwards: [fwd("x", "a", true), fwd("y", "b", true), fwd("z", "b", false), fwd("d", "dev", true)],
    },
    new Map([
      ["a", current],
      ["b", behind],
    ]),
  );
  assert.deepEqual(
    out.forwards.map((f) => [f.name, f.working, Boolean(f.peerSpec)]),
    [
      ["x", true, false],
      ["y", null, true],
      ["z", false, true],
      ["d", true, false],
    ],
  );
});

test("ApplyReporter: sends when the hub's record differs, nothing to a hub that takes none, keeps the last success", async () => {
  const sent: AppliedReport[] = [];
  const logs: string[] = [];
  const r = new ApplyReporter(
    async (x) => void sent.push(x),
    (l) => logs.push(l),
  );
  await r.sync(null);
  assert.equal(sent.length, 0, "nothing applied yet: nothing to send");
  r.record(H1, "T1", null);
  await r.sync(undefined);
  assert.equal(sent.length, 0, "an older hub (no echo) gets nothing");
  await r.sync(null);
  await r.sync({ specHash: H1, error: null });
  assert.deepEqual(sent, [report(H1, null, "T1")], "sent once: the hub has it on record after");
  r.record(H2, "T2", "x".repeat(5000));
  assert.ok(r.failing && r.hasApplied(H2));
  await r.sync({ specHash: H1, error: null });
  const last = sent.at(-1);
  assert.equal(last?.error?.length, 2000, "an error is cut to what the hub takes");
  assert.deepEqual(last?.lastApplied, { specHash: H1, at: "T1" });
  const failing = new ApplyReporter(
    async () => {
      throw new Error("hub gone");
    },
    (l) => logs.push(l),
  );
  failing.record(H1, "T1", null);
  await failing.sync(null);
  await failing.sync(null);
  assert.deepEqual(
    logs,
    ["reporting what this peer applied to the hub: hub gone"],
    "said once, never thrown",
  );
});

test("doctor: the applied check per agent peer, and a forward that answers the hub is unknown while its peer is behind", async (t) => {
  const h = await hub(t);
  await h.whoami();
  writeFileSync(h.specFile, SPEC("240.1.0.0/16"));
  await h.asRpi("POST", "/v1/applied", report(H1, "File exists"));
  const { spec } = await h.service.live();
  const { compile } = await import("../../src/compile/compile.ts");
  const ctx: DoctorContext = {
    host: h.service.ctx.host,
    spec,
    plan: compile(spec, "hub"),
    stateDir: h.service.ctx.stateDir,
    managedBy: "daemon",
    daemonPeers: () => h.service.peers(),
  };
  const run = async (id: string, on = ctx) => {
    const c = HUB_CHECKS.find((x) => x.id === id);
    assert.ok(c, id);
    const r = await c.run(on);
    return Array.isArray(r) ? r : [r];
  };
  const [applied] = await run("applied");
  assert.equal(applied?.status, "fail", "behind, and its last apply failed");
  assert.match(applied?.found ?? "", /^rpi: rpi has not applied this spec .*failed: File exists/);
  const web = (await run("forwards")).find((r) => r.found.startsWith("web "));
  assert.equal(web?.status, "unknown");
  assert.match(web?.found ?? "", /but that says nothing of its clients: rpi has not applied this spec/);
  const cam = (await run("forwards")).find((r) => r.found.startsWith("cam "));
  assert.equal(cam?.status, "ok", "a device peer: as before");
  // Without a daemon nothing is known of the peers' side: unknown, never ok.
  const [none] = await run("applied", { ...ctx, daemonPeers: undefined });
  assert.deepEqual(none, {
    id: "applied",
    status: "unknown",
    found:
      "what the agent peers applied is not known: the hub daemon is not running (see the daemon check); the agents report to it",
    fix: ["systemctl start porthole-hub (the agents report to it), then porthole doctor again"],
  });
  assert.equal(
    doctorJudge("rpi", judgeApplied("rpi", H1, null, null, { nowMs: NOW, startedMs: NOW })).status,
    "unknown",
  );
  // rpi applies the spec served now, then gets a new forward: web, the same in both, stays ok.
  await h.asRpi("POST", "/v1/applied", report((await h.whoami()).specHash));
  writeFileSync(
    h.specFile,
    `${SPEC("240.1.0.0/16")}  - { name: web2, port: 81, peer: rpi, targetPort: 8081 }\n`,
  );
  const later = (await h.service.live()).spec;
  const rows = await run("forwards", { ...ctx, spec: later, plan: compile(later, "hub") });
  assert.deepEqual(
    rows.map((r) => [r.found.split(" ")[0], r.status]),
    [
      ["web", "ok"],
      ["cam", "ok"],
      ["web2", "unknown"],
    ],
  );
});

test("a peer removed and added again by hand under its name (a new key) starts with no records: no report, no agent heard, no probe result", async (t) => {
  const h = await hub(t);
  const { specHash } = await h.whoami();
  assert.equal((await h.asRpi("POST", "/v1/applied", report(specHash))).status, 200);
  let s = await h.service.status();
  const rpi = () => s.peers.find((p) => p.name === "rpi")?.applied;
  const web = () => s.forwards.find((f) => f.name === "web");
  assert.equal(rpi()?.state, "current");
  assert.equal(web()?.probeOutcome, "accepted");
  // Another machine under the name: the spec edited by hand, rpi's key replaced (its address kept).
  writeFileSync(h.specFile, SPEC().replace(KEYS.rpi, publicKeyOf(generatePrivateKey())));
  // Until the edit is applied the interface carries the old key: what comes from 10.8.0.2 is the old
  // machine's (its agent fetched the edited spec and failed to apply it), not the new one's.
  assert.equal((await h.asRpi("POST", "/v1/applied", report(H1, "not my key"))).status, 200);
  await h.service.reconcile();
  // The last probes, probing nothing (what /metrics reads): the old machine's result is not the new one's.
  s = await h.service.status(false);
  assert.equal(web()?.probeOutcome, null, "the old machine's probe result went with its key");
  assert.equal(rpi()?.state, "silent");
  assert.equal(rpi()?.lastApplied, null, "the old machine's apply is not the new one's");
  assert.equal(rpi()?.agentSeenSecondsAgo, null, "the old machine's agent is not the new one's");
  assert.match(rpi()?.note ?? "", /rpi's agent has not been heard since the hub started/);
  // Its agent asks: nothing on record for it (so it reports), while the name's other records stay.
  assert.equal((await h.whoami()).applied, null);
  assert.equal(
    (await h.service.status(false)).forwards.find((f) => f.name === "cam")?.probeOutcome,
    "accepted",
  );
});
