// Tracked flows forgotten on forward changes: which public ports, on which apply path, and how the
// conntrack driver picks the flows to delete.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConntrack, publicAddresses, staleFlowDeletes } from "../../src/host/conntrack.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { changedPorts, describePorts } from "../../src/reconcile/flows.ts";
import { apply } from "../../src/reconcile/reconcile.ts";
import { loadSpec } from "../../src/spec/load.ts";
import type { Spec } from "../../src/spec/types.ts";
import { type FakeHost, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const rpi = publicKeyOf(generatePrivateKey());
const nas = publicKeyOf(generatePrivateKey());

function text(
  forwards: string[],
  o: { firewall?: string; rpiAddress?: string; v6?: boolean; pool?: string } = {},
): string {
  return [
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(hubKey)}`,
    `  firewall: ${o.firewall ?? "nftables"}`,
    ...(o.pool ? [`  snatPool: "${o.pool}"`] : []),
    ...(o.v6 ? ["  subnet6: fd00:8::/64"] : []),
    "peers:",
    `  - { name: rpi, publicKey: "${rpi}", address: ${o.rpiAddress ?? "10.8.0.2"}${o.v6 ? ", address6: fd00:8::2" : ""} }`,
    `  - { name: nas, publicKey: "${nas}", address: 10.8.0.3 }`,
    "forwards:",
    ...(forwards.length ? forwards.map((f) => `  - ${f}`) : ["  []"]),
  ].join("\n");
}

const spec = (t: string): Spec => {
  const r = loadSpec(t);
  assert.ok(r.ok, r.ok ? "" : r.report);
  return r.spec;
};

const GAME = "{ name: game, proto: udp, port: 27015, peer: rpi }";
const WEB = "{ name: web, port: 80, peer: rpi, targetPort: 8080 }";

async function applyTo(h: FakeHost, t: string) {
  return apply(
    { host: h, keyFile: "/k", stateDir: "/state", root: "/root", bin: "porthole" },
    { spec: spec(t), specText: t, hostName: "hub" },
  );
}

for (const firewall of ["nftables", "iptables"]) {
  test(`add, change, remove: each apply forgets the flows of exactly the public ports it changed (${firewall})`, async () => {
    const h = fakeHost({ "/k": hubKey });
    await applyTo(h, text([WEB], { firewall }));
    assert.deepEqual(h.forgotten, [["tcp/80"]], "the first apply: every forwarded port");
    const cases: [string, string[], string[]][] = [
      ["add", [WEB, GAME], ["udp/27015"]],
      ["change the target port", [WEB, GAME.replace("rpi }", "rpi, targetPort: 27016 }")], ["udp/27015"]],
      [
        "change the peer",
        [WEB, "{ name: game, proto: udp, port: 27015, peer: nas, targetPort: 27016 }"],
        ["udp/27015"],
      ],
      [
        "change the mode",
        [WEB, "{ name: game, proto: udp, port: 27015, peer: nas, targetPort: 27016, mode: transparent }"],
        ["udp/27015"],
      ],
      ["remove", [WEB], ["udp/27015"]],
      [
        "a range",
        [WEB, "{ name: r, proto: tcp+udp, port: 6000-6002, peer: nas }"],
        ["tcp/6000", "tcp/6001", "tcp/6002", "udp/6000", "udp/6001", "udp/6002"],
      ],
    ];
    for (const [what, forwards, ports] of cases) {
      h.forgotten.length = 0;
      const r = await applyTo(h, text(forwards, { firewall }));
      assert.deepEqual(h.forgotten, [ports], what);
      assert.match(r.lines.at(-1) ?? "", /^~ conntrack: forget flows to /, what);
    }
  });
}

test("a SNAT pool changed, set off or added: the flows of the agents' snat forwards are forgotten (they would keep the old source, which the peer no longer takes); transparent ones stay", async () => {
  const h = fakeHost({ "/k": hubKey });
  const forwards = [WEB, "{ name: tr, port: 443, peer: nas, mode: transparent }"];
  await applyTo(h, text(forwards, { pool: "240.0.0.0/8" }));
  for (const pool of ["100.64.0.0/10", "off", "240.0.0.0/8"]) {
    h.forgotten.length = 0;
    await applyTo(h, text(forwards, { pool }));
    assert.deepEqual(h.forgotten, [["tcp/80"]], pool);
  }
  h.forgotten.length = 0;
  await applyTo(h, text(forwards, { pool: "240.0.0.0/8" }));
  assert.deepEqual(h.forgotten, [], "the same pool again");
});

test("a forget with nothing to say logs no line (the daemon's log had a blank event after each forward change)", async () => {
  const h = fakeHost({ "/k": hubKey });
  const logged: string[] = [];
  const t = text([WEB]);
  await apply(
    {
      host: h,
      keyFile: "/k",
      stateDir: "/state",
      root: "/root",
      bin: "porthole",
      log: (l) => logged.push(l),
    },
    { spec: spec(t), specText: t, hostName: "hub" },
  );
  assert.deepEqual(h.forgotten, [["tcp/80"]]);
  assert.ok(
    logged.some((l) => l.startsWith("~ conntrack: forget flows to tcp/80")),
    logged.join("\n"),
  );
  assert.deepEqual(
    logged.filter((l) => !l.trim()),
    [],
    logged.join("\n"),
  );
});

test("an apply that changes no flow's path forgets nothing: no change, a rename, a new allow-list", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyTo(h, text([WEB, GAME]));
  for (const forwards of [
    [WEB, GAME],
    [WEB, GAME.replace("name: game", "name: quake")],
    [GAME, WEB],
    [WEB, GAME.replace("rpi }", "rpi, allowFrom: [192.0.2.0/24] }")],
  ]) {
    h.forgotten.length = 0;
    await applyTo(h, text(forwards));
    assert.deepEqual(h.forgotten, [], forwards.join(" "));
  }
});

test("a peer's new address changes the path of each of its ports, IPv6 ports as their own", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyTo(h, text([WEB, GAME.replace("rpi", "nas")], { v6: true }));
  h.forgotten.length = 0;
  await applyTo(h, text([WEB, GAME.replace("rpi", "nas")], { v6: true, rpiAddress: "10.8.0.9" }));
  assert.deepEqual(h.forgotten, [["tcp/80"]], "only rpi's IPv4 target moved; the nas forward stays");
});

test("rules restored after drift (nft flush ruleset, a lost iptables hook): every forwarded port is forgotten", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyTo(h, text([WEB, GAME]));
  h.fw.nft = null;
  h.forgotten.length = 0;
  await applyTo(h, text([WEB, GAME]));
  assert.deepEqual(h.forgotten, [["tcp/80", "udp/27015"]]);

  const i = fakeHost({ "/k": hubKey });
  await applyTo(i, text([WEB, GAME], { firewall: "iptables" }));
  i.fw.hooks = i.fw.hooks.filter((x) => x.chain !== "PREROUTING");
  i.forgotten.length = 0;
  await applyTo(i, text([WEB, GAME], { firewall: "iptables" }));
  assert.deepEqual(i.forgotten, [["tcp/80", "udp/27015"]]);
});

test("the flows are forgotten after the rules change, and again after a rollback", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyTo(h, text([WEB]));
  h.calls.length = 0;
  // A later step fails: the new rules were in place for a while.
  for (const f of h.fileMap.keys()) if (f.includes("systemd")) h.fileMap.delete(f);
  h.failOn = "write /root/etc/systemd";
  await applyTo(h, text([WEB, GAME])).then(
    () => assert.fail("expected a failure"),
    (e) => assert.match((e as Error).message, /put back/),
  );
  const fw = h.calls.filter((c) => /^(nft|conntrack)/.test(c));
  assert.deepEqual(fw, ["nft patch", "nft load", "conntrack forget"], h.calls.join("\n"));
});

test("changedPorts is keyed by public port; describePorts joins ranges", () => {
  const a = spec(text([WEB, "{ name: r, proto: udp, port: 6000-6010, peer: nas }"]));
  const b = spec(text([WEB]));
  assert.equal(describePorts(changedPorts(a, b)), "udp/6000-6010");
  assert.equal(
    describePorts(
      changedPorts(
        null,
        spec(
          text([
            WEB,
            GAME,
            "{ name: a, port: 1, peer: nas }",
            "{ name: b, port: 3, peer: nas }",
            "{ name: c, port: 5, peer: nas }",
          ]),
        ),
      ),
    ),
    "tcp/1, tcp/3, tcp/5, tcp/80 and 1 more",
  );
});

test("the driver deletes live flows to the hub's own addresses only, one conntrack line per address, port and TCP state", () => {
  const listing = [
    // A game client that started before the forward: untranslated, to the hub's public address.
    "ipv4     2 udp      17 29 src=198.51.100.7 dst=203.0.113.1 sport=40000 dport=27015 [UNREPLIED] src=203.0.113.1 dst=198.51.100.7 sport=27015 dport=40000 mark=0 use=1",
    "ipv4     2 udp      17 29 src=198.51.100.8 dst=203.0.113.1 sport=40001 dport=27015 [UNREPLIED] src=203.0.113.1 dst=198.51.100.8 sport=27015 dport=40001 mark=0 use=1",
    // Translated to the old target.
    "ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.7 dst=203.0.113.1 sport=5000 dport=80 src=10.8.0.2 dst=10.8.0.1 sport=8080 dport=5000 [ASSURED] mark=0 use=1",
    "ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.9 dst=203.0.113.1 sport=5002 dport=80 src=10.8.0.2 dst=10.8.0.1 sport=8080 dport=5002 [ASSURED] mark=0 use=1",
    "ipv4     2 tcp      6 119 SYN_SENT src=198.51.100.7 dst=203.0.113.1 sport=5003 dport=80 [UNREPLIED] src=203.0.113.1 dst=198.51.100.7 sport=80 dport=5003 mark=0 use=1",
    // Ended: kept, so SNAT does not give its port to another client while the target holds TIME_WAIT.
    "ipv4     2 tcp      6 117 TIME_WAIT src=198.51.100.8 dst=203.0.113.1 sport=5004 dport=80 src=10.8.0.2 dst=10.8.0.1 sport=8080 dport=5004 [ASSURED] mark=0 use=1",
    "ipv4     2 tcp      6 9 CLOSE src=198.51.100.8 dst=203.0.113.1 sport=5005 dport=443 src=10.8.0.2 dst=10.8.0.1 sport=8443 dport=5005 [ASSURED] mark=0 use=1",
    // The hub's own outgoing connection to port 80 somewhere else: left alone.
    "ipv4     2 tcp      6 431999 ESTABLISHED src=203.0.113.1 dst=192.0.2.80 sport=5001 dport=80 src=192.0.2.80 dst=203.0.113.1 sport=80 dport=5001 [ASSURED] mark=0 use=1",
    // A peer talking to the hub's tunnel address on that port: left alone.
    "ipv4     2 udp      17 29 src=10.8.0.2 dst=10.8.0.1 sport=4000 dport=27015 src=10.8.0.1 dst=10.8.0.2 sport=27015 dport=4000 mark=0 use=1",
    "ipv6     10 udp      17 29 src=2001:db8::7 dst=2001:db8::1 sport=40000 dport=27015 [UNREPLIED] src=2001:db8::1 dst=2001:db8::7 sport=27015 dport=40000 mark=0 use=1",
    "ipv4     2 icmp     1 29 src=198.51.100.7 dst=203.0.113.1 type=8 code=0 id=1 src=203.0.113.1 dst=198.51.100.7 type=0 code=0 id=1 mark=0 use=1",
  ].join("\n");
  const addrs = publicAddresses(
    JSON.stringify([
      {
        ifname: "lo",
        addr_info: [
          { local: "127.0.0.1", scope: "host" },
          { local: "::1", scope: "host" },
        ],
      },
      { ifname: "ens3", addr_info: [{ local: "203.0.113.1", scope: "global" }] },
      { ifname: "wg0", addr_info: [{ local: "10.8.0.1", scope: "global" }] },
    ]),
    ["10.8.0.1"],
  );
  assert.deepEqual(addrs, ["203.0.113.1"]);
  const ports = [
    { family: 4, proto: "udp", port: 27015 },
    { family: 4, proto: "tcp", port: 80 },
    { family: 4, proto: "tcp", port: 443 },
  ] as const;
  assert.deepEqual(staleFlowDeletes(parseConntrack(listing), [...ports], addrs), [
    "-D -f ipv4 -p udp --orig-dst 203.0.113.1 --orig-port-dst 27015",
    "-D -f ipv4 -p tcp --orig-dst 203.0.113.1 --orig-port-dst 80 --state ESTABLISHED",
    "-D -f ipv4 -p tcp --orig-dst 203.0.113.1 --orig-port-dst 80 --state SYN_SENT",
  ]);
  assert.deepEqual(
    staleFlowDeletes(parseConntrack(listing), [{ family: 6, proto: "udp", port: 27015 }], ["2001:db8::1"]),
    ["-D -f ipv6 -p udp --orig-dst 2001:db8::1 --orig-port-dst 27015"],
  );
});
