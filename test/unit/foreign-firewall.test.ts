// Other owners' firewalls, read from captured listings (test/fixtures/foreign/capture.sh made them with
// the real nft and iptables): which of porthole's packets they drop, where, and the fix printed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compile } from "../../src/compile/compile.ts";
import { evaluate } from "../../src/foreign/evaluate.ts";
import { analyze, findingLines, foreignRulesets, hubProbes } from "../../src/foreign/findings.ts";
import { parseIptablesSave } from "../../src/foreign/iptables-save.ts";
import type { Chain, Probe, Ruleset } from "../../src/foreign/model.ts";
import type { ForeignSnapshot } from "../../src/host/foreign.ts";
import type { FirewallFinding } from "../../src/protocol/status.ts";
import { loadSpec } from "../../src/spec/load.ts";
import type { Spec } from "../../src/spec/types.ts";

const dir = join(import.meta.dirname, "../fixtures/foreign");
const fixture = (name: string) => readFileSync(join(dir, name), "utf8");
const nftItems = (name: string) =>
  (JSON.parse(fixture(name)) as { nftables: ForeignSnapshot["nft"] }).nftables;

function spec(extra = "", publicInterface = "ens3"): Spec {
  const r = loadSpec(`version: 1
hub:
  endpoint: 203.0.113.1
  publicKey: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
  publicInterface: ${publicInterface}
${extra}peers:
  - name: rpi
    publicKey: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
    address: 10.8.0.2
  - name: nas
    publicKey: gJ3G1/8s3o9Li4utoFsFT4dR/fNAAruhBaIcRk9xr0Y=
    address: 10.8.0.3
forwards:
  - { name: web, port: 80, peer: rpi, targetPort: 8080 }
  - { name: game, proto: udp, port: 27015, peer: nas, targetPort: 27015 }
`);
  assert.ok(r.ok, r.ok ? "" : r.report);
  return r.spec;
}

function findings(s: Partial<ForeignSnapshot>, sp = spec(), ignorePasses = false): FirewallFinding[] {
  const snap: ForeignSnapshot = { nft: [], xtables: [], iptables: "nft", ...s };
  return analyze(foreignRulesets(snap), hubProbes(sp, compile(sp, sp.hub.name).targets), {
    wgInterface: sp.hub.interface,
    listenPort: sp.hub.listenPort,
    apiPort: sp.hub.apiPort,
    ignorePasses,
  });
}

const brief = (fs: FirewallFinding[]) =>
  fs
    .map(
      (f) =>
        `${f.path} ${f.forwards.join(",")} ${f.source} ${f.family} ${f.table} ${f.chain} ${f.ruleChain} ${f.rule ?? "policy"} ${f.certain ? "certain" : "maybe"}`,
    )
    .sort();

test("firewalld (shape of 1.x): the WireGuard port, the API and the mesh are rejected, DNAT'd forwards pass", () => {
  const fs = findings({ nft: nftItems("firewalld.json") });
  assert.deepEqual(brief(fs), [
    "api  nft inet firewalld filter_INPUT filter_INPUT reject (handle 20) certain",
    "mesh  nft inet firewalld filter_FORWARD filter_FORWARD reject (handle 29) certain",
    "wireguard  nft inet firewalld filter_INPUT filter_INPUT reject (handle 20) certain",
  ]);
  const wg = fs.find((f) => f.path === "wireguard") as FirewallFinding;
  assert.deepEqual(findingLines(wg), [
    "the WireGuard port udp/51820 is dropped by nft table inet firewalld chain filter_INPUT (rule `reject` (handle 20)); porthole cannot override another owner's chain",
    "  fix: firewall-cmd --permanent --zone=public --add-port=51820/udp && firewall-cmd --reload",
    "  fix: nft insert rule inet firewalld filter_INPUT udp dport 51820 accept   (at once, until firewalld reloads)",
  ]);
});

test("a firewalld-like forward policy drop blocks every forward, named with the chain and the fix", () => {
  const fs = findings({ nft: nftItems("firewalld-drop.json") });
  assert.deepEqual(brief(fs), [
    "forward web,game nft inet firewalld filter_FORWARD filter_FORWARD policy certain",
    "mesh  nft inet firewalld filter_FORWARD filter_FORWARD policy certain",
  ]);
  const f = fs.find((x) => x.path === "forward") as FirewallFinding;
  assert.equal(
    findingLines(f)[0],
    "forwards web, game are dropped by nft table inet firewalld chain filter_FORWARD (policy drop); porthole cannot override another owner's chain",
  );
  assert.deepEqual(f.fix.slice(1), [
    'nft insert rule inet firewalld filter_FORWARD oifname "wg0" accept   (at once, until firewalld reloads)',
    'nft insert rule inet firewalld filter_FORWARD iifname "wg0" accept   (at once, until firewalld reloads)',
  ]);
  assert.match(f.fix[0] as string, /^firewall-cmd --permanent --zone=trusted --add-interface=wg0 /);
});

test("a strict /etc/nftables.conf drops the WireGuard port, the API and the forwards; iptables-nft's table is not read as nft", () => {
  const fs = findings({ nft: nftItems("nftables-conf.json") });
  assert.deepEqual(brief(fs), [
    "api  nft inet filter input input policy certain",
    "forward web,game nft inet filter forward forward policy certain",
    "mesh  nft inet filter forward forward policy certain",
    "wireguard  nft inet filter input input policy certain",
  ]);
  const fwd = fs.find((x) => x.path === "forward") as FirewallFinding;
  assert.deepEqual(fwd.fix, [
    'nft insert rule inet filter forward oifname "wg0" accept',
    'nft insert rule inet filter forward iifname "wg0" accept',
  ]);
  assert.deepEqual((fs.find((x) => x.path === "wireguard") as FirewallFinding).fix, [
    "nft insert rule inet filter input udp dport 51820 accept",
  ]);
});

test("the printed nft fix, applied, clears the finding", () => {
  const items = nftItems("nftables-conf.json");
  const accept = (chain: string, expr: unknown[]) => ({
    rule: { family: "inet", table: "filter", chain, handle: 99, expr: [...expr, { accept: null }] },
  });
  const iif = (k: string) => ({ match: { op: "==", left: { meta: { key: k } }, right: "wg0" } });
  // nft insert puts the rule first: it goes before the chain's other rules in the listing too.
  const firstRule = items.findIndex((i) => "rule" in i);
  const fixed = [
    ...items.slice(0, firstRule),
    accept("forward", [iif("oifname")]),
    accept("forward", [iif("iifname")]),
    ...items.slice(firstRule),
  ];
  assert.deepEqual(
    brief(findings({ nft: fixed })).filter((l) => l.startsWith("forward") || l.startsWith("mesh")),
    [],
  );
});

test("Docker's FORWARD DROP in iptables-legacy is found, and porthole's marked accepts clear it", () => {
  const xtables = [{ flavour: "legacy" as const, family: 4 as const, text: fixture("docker-legacy.save") }];
  const fs = findings({ xtables });
  assert.deepEqual(brief(fs), [
    "forward web,game iptables-legacy ip filter FORWARD FORWARD policy certain",
    "mesh  iptables-legacy ip filter FORWARD FORWARD policy certain",
  ]);
  assert.ok(fs.every((f) => f.passable && f.fix[0]?.startsWith("porthole apply")));
  const passed = fixture("docker-legacy.save").replace(
    "-A FORWARD -j DOCKER-USER",
    "-A FORWARD -i wg0 -m comment --comment porthole-pass -j ACCEPT\n-A FORWARD -o wg0 -m comment --comment porthole-pass -j ACCEPT\n-A FORWARD -j DOCKER-USER",
  );
  const withPass = [{ ...xtables[0], text: passed }] as ForeignSnapshot["xtables"];
  assert.deepEqual(findings({ xtables: withPass }), []);
  assert.equal(findings({ xtables: withPass }, spec(), true).length, 2, "still needed without them");
  // porthole's own hook (iptables backend) accepts its forwards.
  const hooked = fixture("docker-legacy.save").replace(
    "-A FORWARD -j DOCKER-USER",
    "-A FORWARD -j PORTHOLE-FORWARD\n-A FORWARD -j DOCKER-USER",
  );
  assert.deepEqual(brief(findings({ xtables: [{ flavour: "legacy", family: 4, text: hooked }] })), []);
});

test("ufw's default deny drops the WireGuard port and the API; the fix is a ufw line", () => {
  const fs = findings({ xtables: [{ flavour: "nft", family: 4, text: fixture("ufw-nft.save") }] });
  assert.deepEqual(brief(fs), [
    "api  iptables-nft ip filter INPUT INPUT policy certain",
    "forward web,game iptables-nft ip filter FORWARD FORWARD policy certain",
    "mesh  iptables-nft ip filter FORWARD FORWARD policy certain",
    "wireguard  iptables-nft ip filter INPUT INPUT policy certain",
  ]);
  assert.deepEqual((fs.find((f) => f.path === "wireguard") as FirewallFinding).fix, ["ufw allow 51820/udp"]);
  assert.deepEqual((fs.find((f) => f.path === "api") as FirewallFinding).fix, [
    "ufw allow in on wg0 to any port 51821 proto tcp",
  ]);
  const allowed = fixture("ufw-nft.save").replace(
    "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT",
    "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n-A ufw-user-input -p udp -m udp --dport 51820 -j ACCEPT",
  );
  const after = findings({ xtables: [{ flavour: "nft", family: 4, text: allowed }] });
  assert.equal(
    after.some((f) => f.path === "wireguard"),
    false,
    "ufw allow 51820/udp clears it",
  );
});

test("an unknown public interface makes interface-specific rules undecidable: the drop is 'may'", () => {
  const fs = findings({ nft: nftItems("firewalld.json") }, spec("", "auto"));
  const wg = fs.find((f) => f.path === "wireguard") as FirewallFinding;
  assert.equal(wg.certain, true, "both zone branches reject");
  const text = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i wg0 -j ACCEPT
-A INPUT -i eth0 -j ACCEPT
COMMIT
`;
  const maybe = findings({ xtables: [{ flavour: "legacy", family: 4, text }] }, spec("", "auto"));
  assert.deepEqual(brief(maybe), ["wireguard  iptables-legacy ip filter INPUT INPUT policy maybe"]);
  assert.match(findingLines(maybe[0] as FirewallFinding)[0] as string, /may be dropped/);
  const named = findings({ xtables: [{ flavour: "legacy", family: 4, text }] }, spec("", "eth0"));
  assert.deepEqual(named, [], "named public interface: the accept decides");
});

test("a user's DROP inserted ahead of porthole's own jump (iptables backend) is certain, not passable; the fix deletes it", () => {
  const text = fixture("user-drop-ahead-nft.save");
  const fs = findings({ xtables: [{ flavour: "nft", family: 4, text }] });
  assert.deepEqual(brief(fs), [
    "forward web iptables-nft ip filter FORWARD FORWARD -A FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP certain",
    // Traffic between peers may go to rpi's port 8080 too.
    "mesh  iptables-nft ip filter FORWARD FORWARD -A FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP maybe",
  ]);
  const f = fs.find((x) => x.path === "forward") as FirewallFinding;
  assert.equal(f.passable, false, "porthole's accept is there already: apply would change nothing");
  assert.deepEqual(f.fix, [
    "iptables-nft -D FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP   (the rule ahead of porthole's accept in FORWARD)",
  ]);
  // The same drop ahead of porthole's marked accepts in the other flavour: likewise.
  const passed = text.replace(
    "-A FORWARD -j PORTHOLE-FORWARD",
    "-A FORWARD -i wg0 -m comment --comment porthole-pass -j ACCEPT\n-A FORWARD -o wg0 -m comment --comment porthole-pass -j ACCEPT",
  );
  const legacy = findings({ xtables: [{ flavour: "legacy", family: 4, text: passed }] });
  assert.deepEqual(
    legacy.map((x) => [x.path, x.passable, x.certain, x.fix[0]?.split("   ")[0]]),
    [
      [
        "forward",
        false,
        true,
        "iptables-legacy -D FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP",
      ],
      ["mesh", false, false, "iptables-legacy -D FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP"],
    ],
  );
  // The printed fix, applied (the rule deleted): nothing left.
  const deleted = text.replace("-A FORWARD -d 10.8.0.2/32 -p tcp -m tcp --dport 8080 -j DROP\n", "");
  assert.deepEqual(findings({ xtables: [{ flavour: "nft", family: 4, text: deleted }] }), []);
});

test("a foreign nft drop on the DNAT'd target's address and port is certain; the reply's unknowns do not make it 'may'", () => {
  const fs = findings({ nft: nftItems("nbx-drop.json") });
  assert.deepEqual(brief(fs), [
    "forward web nft inet nbx myforward myforward ip daddr 10.8.0.2 tcp dport 8080 drop (handle 2) certain",
    "mesh  nft inet nbx myforward myforward ip daddr 10.8.0.2 tcp dport 8080 drop (handle 2) maybe",
  ]);
  const line = findingLines(fs[0] as FirewallFinding)[0] as string;
  assert.match(
    line,
    /^forward web is dropped by nft table inet nbx chain myforward \(rule `[^`]*drop` \(handle 2\)\)/,
  );
  // A test on what is not known (the client's source) keeps it "may".
  const items = nftItems("nbx-drop.json").map((i) => {
    const r = i.rule as { expr?: unknown[] } | undefined;
    if (!r?.expr) return i;
    const saddr = {
      match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "198.51.100.7" },
    };
    return { rule: { ...r, expr: [saddr, ...r.expr] } };
  });
  assert.deepEqual(
    findings({ nft: items }).map((f) => f.certain),
    [false, false],
  );
});

test("the drop's phrase agrees with its subject: one forward is, several are, an uncertain one may be", () => {
  const text = fixture("user-drop-ahead-nft.save").replace("-d 10.8.0.2/32 -p tcp -m tcp --dport 8080 ", "");
  const [f] = findings({ xtables: [{ flavour: "nft", family: 4, text }] });
  assert.deepEqual(f?.forwards, ["web", "game"]);
  assert.match(findingLines(f as FirewallFinding)[0] as string, /^forwards web, game are dropped by /);
});

test("a probe's known source decides saddr tests; an unknown source keeps them undecided", () => {
  const rs = parseIptablesSave(
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i wg0 ! -s 10.8.0.0/24 -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n",
    "iptables-nft",
    4,
  ) as Ruleset;
  const input = rs.chains.INPUT as Chain;
  const probe = (saddr: string | null): Probe => ({
    hook: "input",
    family: 4,
    iif: { name: "wg0" },
    oif: { name: "" },
    proto: "tcp",
    dport: 8080,
    daddr: "10.8.0.2",
    saddr,
    ctstate: "new",
    dnat: false,
  });
  const client = evaluate(rs, input, probe("198.51.100.1"));
  assert.deepEqual([client.drops, client.certain], [true, true]);
  assert.equal(client.rule?.text, "-A INPUT -i wg0 ! -s 10.8.0.0/24 -p tcp -m tcp --dport 8080 -j DROP");
  assert.equal(evaluate(rs, input, probe("10.8.0.1")).drops, false);
  const unknown = evaluate(rs, input, probe(null));
  assert.deepEqual([unknown.drops, unknown.certain], [true, false]);
});
