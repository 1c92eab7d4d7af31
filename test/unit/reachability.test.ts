// The hub's verdict on a peer's outside probe (hub/reachability.ts): a forward whose allow-list leaves
// the probing peer out is not judged from it (the hub's own allow-list drops the probe), never FAIL.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectResult } from "../../src/host/types.ts";
import { judgeReport, outsideAllowList, probeTargets } from "../../src/hub/reachability.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { runProbeTask } from "../../src/peer/reachability.ts";
import { ProbeReport } from "../../src/protocol/requests.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { fakeHost } from "../support/fake-host.ts";

const r = loadSpec(`hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(generatePrivateKey())}
peers:
  - { name: rpi, publicKey: "${publicKeyOf(generatePrivateKey())}", address: 10.8.0.2 }
forwards:
  - { name: web, proto: tcp, port: 80, peer: rpi, targetPort: 8080 }
  - { name: office, proto: tcp, port: 8081, peer: rpi, targetPort: 8080, allowFrom: [192.0.2.0/24] }
  - { name: home, proto: tcp, port: 8082, peer: rpi, targetPort: 8080, allowFrom: [198.51.100.0/24] }
`);
if (!r.ok) throw new Error(r.report);
const spec = r.spec;

test("outside probe: a forward whose allow-list leaves the peer out is unknown, not a cloud firewall", () => {
  const notAllowed = outsideAllowList(spec, "198.51.100.2:50896");
  assert.deepEqual([...notAllowed], [["office", "192.0.2.0/24"]]);
  const targets = probeTargets(spec);
  // Every TCP probe timed out except the open one: office's timeout is its own allow-list at work.
  const report = {
    address: "203.0.113.1",
    via: "eth0",
    handshake: { ageS: 3, endpoint: "203.0.113.1:51820" },
    results: [
      { proto: "tcp" as const, port: 80, result: "open" as const },
      { proto: "tcp" as const, port: 8081, result: "timeout" as const },
      { proto: "tcp" as const, port: 8082, result: "timeout" as const },
    ],
  };
  const f = judgeReport("rpi", targets, report, "wg0", notAllowed);
  assert.deepEqual(
    f.map((x) => [x.port, x.status]),
    [
      [51820, "ok"],
      [80, "ok"],
      [8081, "unknown"],
      [8082, "fail"],
    ],
  );
  // Ages in status's words (it said "3 s ago").
  assert.equal(
    f[0]?.found,
    "udp/51820 (wireguard) reachable: rpi shook hands through 203.0.113.1:51820 over the internet 3 seconds ago",
  );
  const old = judgeReport(
    "rpi",
    targets,
    { ...report, handshake: { ageS: 600, endpoint: "203.0.113.1:51820" } },
    "wg0",
  );
  assert.equal(
    old[0]?.found,
    "udp/51820 (wireguard): rpi's tunnel does not show a recent handshake through 203.0.113.1 (10 minutes ago via 203.0.113.1:51820)",
  );
  assert.equal(
    f[2]?.found,
    "tcp/8081 (office): not judged from rpi: its address is not in the forward's allow-list (192.0.2.0/24), so the hub drops its probe by design",
  );
  assert.equal(f[2]?.fix, "from an address in the allow-list: nc -vz -w 3 203.0.113.1 8081");
  assert.match(
    f[3]?.found ?? "",
    /NOT reachable from the internet/,
    "an allow-list that admits the peer is judged",
  );
  assert.equal(outsideAllowList(spec, null).size, 0, "an unknown endpoint judges every port");
  assert.deepEqual(
    [...outsideAllowList(spec, "[2001:db8::2]:4000")].map(([n]) => n),
    ["office", "home"],
  );
});

test("outside probe: the peer reports each way its connect ended; one that failed on the peer is unknown with its error", async () => {
  const host = fakeHost();
  host.dns.set("vps.example.net", ["203.0.113.1"]);
  const ends: Record<number, ConnectResult> = {
    80: { outcome: "accepted", error: null },
    8081: { outcome: "refused", error: "ECONNREFUSED" },
    8082: { outcome: "error", error: "EMFILE" },
  };
  host.network.connect = (_a, p) => ends[p] ?? { outcome: "timeout", error: null };
  const task = { id: "t1", host: "vps.example.net", targets: probeTargets(spec) };
  const report = await runProbeTask(host, task, { interface: "wg0", hubKey: "k" }, 0);
  assert.deepEqual(report.results, [
    { proto: "tcp", port: 80, result: "open" },
    { proto: "tcp", port: 8081, result: "refused" },
    { proto: "tcp", port: 8082, result: "error", error: "EMFILE" },
  ]);
  assert.ok(ProbeReport.safeParse(report).success, "the report is what the hub accepts");
  const f = judgeReport("rpi", task.targets, report, "wg0");
  assert.deepEqual(
    f.map((x) => [x.port, x.status]),
    [
      [51820, "unknown"],
      [80, "ok"],
      [8081, "warn"],
      [8082, "unknown"],
    ],
  );
  assert.equal(
    f[3]?.found,
    "tcp/8082 (home): rpi's connect to 203.0.113.1:8082 failed on rpi itself (EMFILE): it says nothing about the hub",
  );
});
