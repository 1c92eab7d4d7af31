import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { apply, down } from "../../src/reconcile/reconcile.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeContext, fakeHost } from "../support/fake-host.ts";

const hubKey = generatePrivateKey();
const peers = ["rpi", "nas"].map((name) => ({ name, key: publicKeyOf(generatePrivateKey()) }));

function specText(forwards: string[], peerNames = ["rpi", "nas"]): string {
  const p = peers.filter((x) => peerNames.includes(x.name));
  return [
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(hubKey)}`,
    "peers:",
    ...p.map((x, i) => `  - { name: ${x.name}, publicKey: "${x.key}", address: 10.8.0.${i + 2} }`),
    "forwards:",
    ...forwards.map((f) => `  - ${f}`),
    ...(forwards.length ? [] : ["  []"]),
  ].join("\n");
}

const WEB = "{ name: web, port: 80, peer: rpi, targetPort: 8080 }";
const DNS = "{ name: dns, proto: udp, port: 53, peer: nas }";

const ctx = (h: FakeHost, log: string[] = []) => fakeContext(h, { log: (l) => log.push(l) });

async function applyText(
  h: FakeHost,
  text: string,
  extra: { sshConnection?: string; confirming?: boolean; countRules?: boolean } = {},
) {
  const r = loadSpec(text);
  assert.ok(r.ok, r.ok ? "" : r.report);
  return apply(ctx(h), { spec: r.spec, specText: text, hostName: "hub", ...extra });
}

const snapshot = (h: FakeHost) =>
  JSON.stringify({ i: [...h.ifaces], fw: h.fw, f: [...h.fileMap], s: [...h.sysctls], r: h.routes });

test("first apply builds the hub; the second reports no changes and runs no mutating command", async () => {
  const h = fakeHost({ "/k": hubKey });
  const first = await applyText(h, specText([WEB]));
  assert.ok(first.changed);
  assert.ok(first.lines.includes("+ forward web tcp/80 → rpi:8080 (snat)"), first.lines.join("\n"));
  assert.ok(first.lines.includes("~ sysctl net.ipv4.ip_forward = 1 (was 0)"));
  assert.equal(h.ifaces.get("wg0")?.peers.length, 2);
  h.calls.length = 0;
  const second = await applyText(h, specText([WEB]));
  assert.equal(second.changed, false);
  assert.deepEqual(second.lines, []);
  assert.deepEqual(h.calls, []);
});

test("a daemon's rounds on the same spec reuse its plan; a new enrollment key still reaches the interface", async () => {
  const h = fakeHost({ "/k": hubKey });
  const text = specText([WEB]);
  const r = loadSpec(text);
  assert.ok(r.ok, r.ok ? "" : r.report);
  const req = { spec: r.spec, specText: text, hostName: "hub" };
  const first = await apply(ctx(h), req);
  const again = await apply(ctx(h), req);
  assert.equal(again.changed, false);
  assert.equal(again.plan, first.plan, "the same spec object and options: compiled once");
  const key = publicKeyOf(generatePrivateKey());
  const enrolled = await apply(ctx(h), {
    ...req,
    enrolling: [{ id: "t1", publicKey: key, address: "10.8.0.250" }],
  });
  assert.ok(enrolled.changed);
  assert.notEqual(enrolled.plan, first.plan);
  assert.ok(h.ifaces.get("wg0")?.peers.some((p) => p.publicKey === key));
});

test("adding a forward patches only the ruleset's elements and says what it adds", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  h.calls.length = 0;
  const r = await applyText(h, specText([WEB, DNS]));
  assert.deepEqual(r.lines, [
    "+ forward dns udp/53 → nas:53 (snat)",
    "~ conntrack: forget flows to udp/53 (tracked before this change, they would keep their old path)",
  ]);
  assert.deepEqual(
    h.calls.filter((c) => !c.startsWith("write /state")),
    ["nft patch", "conntrack forget"],
  );
});

test("the ruleset is loaded whole when the kernel does not hold the previous one", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  h.fw.nft = { marker: "0000000000000000", generations: [7] }; // someone else changed the table
  h.calls.length = 0;
  await applyText(h, specText([WEB, DNS]));
  assert.deepEqual(
    h.calls.filter((c) => !c.startsWith("write /state")),
    ["nft load", "conntrack forget"],
  );
});

test("an apply that counts the table's rules loads it whole when its chains were emptied behind porthole (marker kept); the daemon's rounds do not count", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  // `nft flush table inet porthole`: chains and sets stay, the marker with them; the rules are gone.
  h.nftRules = 0;
  h.calls.length = 0;
  const round = await applyText(h, specText([WEB]));
  assert.equal(round.changed, false, "a round reads the marker alone");
  const asked = await applyText(h, specText([WEB]), { countRules: true });
  assert.ok(asked.changed);
  // Flows tracked while the rules were missing may have gone elsewhere: forgotten, as after a flush ruleset.
  assert.deepEqual(asked.lines, [
    "~ nftables table inet porthole",
    "~ conntrack: forget flows to tcp/80 (tracked before this change, they would keep their old path)",
  ]);
  assert.deepEqual(
    h.calls.filter((c) => !c.startsWith("write /state")),
    ["nft load", "conntrack forget"],
  );
  // Loaded whole: its rules are there again, and the next counted apply changes nothing.
  assert.equal((await applyText(h, specText([WEB]), { countRules: true })).changed, false);
  // The same for a change: not an element patch onto chains that hold no rules.
  h.nftRules = 3;
  h.calls.length = 0;
  await applyText(h, specText([WEB, DNS]), { countRules: true });
  assert.deepEqual(
    h.calls.filter((c) => c.startsWith("nft")),
    ["nft load"],
  );
});

test("a failing element patch restores the previous ruleset", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  const before = snapshot(h);
  h.failOn = "nft patch";
  await assert.rejects(applyText(h, specText([WEB, DNS])), /put back/);
  assert.equal(snapshot(h), before);
});

test("removing a peer removes only that peer; the other keeps its session", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  h.calls.length = 0;
  const r = await applyText(h, specText([WEB], ["rpi"]));
  assert.equal(r.lines.length, 1);
  assert.match(r.lines[0] ?? "", /^- peer .* 10\.8\.0\.3\/32$/);
  assert.deepEqual(
    h.calls.filter((c) => c.startsWith("wg")),
    ["wg rm-peer wg0"],
  );
});

test("a failing step puts the host back exactly as it was", async () => {
  for (const failOn of ["nft load", "wg peer", "write /root", "ip up"]) {
    const h = fakeHost({ "/k": hubKey });
    const before = snapshot(h);
    h.failOn = failOn;
    await assert.rejects(applyText(h, specText([WEB])), /put back/);
    assert.equal(snapshot(h), before, `after a failure in ${failOn}`);
  }
});

test("a failing change to a running hub restores the previous ruleset and peers", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  const before = snapshot(h);
  h.failOn = "nft patch"; // after the peer is removed (only elements change: a patch, not a load)
  await assert.rejects(
    applyText(h, specText([WEB, "{ name: git, port: 2222, peer: rpi, targetPort: 22 }"], ["rpi"])),
    /put back/,
  );
  assert.ok(h.calls.includes("wg rm-peer wg0"));
  assert.equal(snapshot(h), before);
});

test("verify catches a host that did not take a change, and rolls back", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.wg.setMtu = async () => {}; // accepts the command, changes nothing
  await assert.rejects(applyText(h, specText([WEB])), /verify failed[\s\S]*mtu 1420/);
  assert.equal(h.ifaces.size, 0);
});

test("a private key that does not match the spec is refused before anything changes", async () => {
  const h = fakeHost({ "/k": generatePrivateKey() });
  await assert.rejects(applyText(h, specText([WEB])), /belongs to public key .* but the spec gives "hub"/);
  assert.deepEqual(h.calls, []);
  const none = fakeHost();
  await assert.rejects(
    applyText(none, specText([WEB])),
    /no private key at \/k: create it with `porthole keygen --write \/k` \(mode 0600; it prints the public key\)/,
  );
});

test("a plan that cuts the caller's SSH session through the tunnel is refused unless confirming", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  h.calls.length = 0;
  const ssh = "10.8.0.3 50000 10.8.0.1 22"; // the admin is on nas, which the new spec drops
  await assert.rejects(
    applyText(h, specText([WEB], ["rpi"]), { sshConnection: ssh }),
    /refusing to apply: .*removes the peer/,
  );
  assert.deepEqual(h.calls, []);
  const r = await applyText(h, specText([WEB], ["rpi"]), { sshConnection: ssh, confirming: true });
  assert.ok(r.changed);
  await applyText(h, specText([WEB]), { sshConnection: "198.51.100.7 50000 203.0.113.1 22" });
});

test("a forward taking the port the caller's SSH session came in on (from outside the tunnel) is refused", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  h.calls.length = 0;
  // sshd on 2222 (22 is reserved by the spec's check): the plan's targets say which forward takes it.
  const ssh = "198.51.100.7 50000 203.0.113.1 2222";
  const take = "{ name: ssh-ish, port: 2220-2230, peer: nas, targetPort: 3220-3230 }";
  await assert.rejects(
    applyText(h, specText([WEB, take]), { sshConnection: ssh }),
    /refusing to apply: forward "ssh-ish" takes tcp\/2222, the port your SSH session \(198\.51\.100\.7 → 203\.0\.113\.1\) came in on/,
  );
  assert.deepEqual(h.calls, [], "nothing changed");
  const udp = "{ name: udp-only, proto: udp, port: 2222, peer: nas }";
  assert.ok(
    (await applyText(h, specText([WEB, udp]), { sshConnection: ssh })).changed,
    "udp/2222 is not SSH's",
  );
});

const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, "../fixtures/foreign", name), "utf8");
const dockerSave = fixture("docker-legacy.save");

test("Docker's FORWARD DROP gets marked passes in each iptables flavour that has it, once; removed when it goes", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.foreign.xtables = [
    { flavour: "legacy", family: 4, text: dockerSave },
    { flavour: "nft", family: 4, text: dockerSave },
  ];
  const r = await applyText(h, specText([WEB]));
  const passes = r.lines.filter((l) => l.startsWith("+ pass: "));
  assert.deepEqual(
    passes.map((l) => l.split(" drops")[0]),
    ["+ pass: iptables-legacy filter FORWARD", "+ pass: iptables-nft filter FORWARD"],
  );
  assert.match(passes[0] as string, /drops forwarded traffic by policy/);
  assert.deepEqual(r.warnings, [], "handled: nothing left for the user");
  assert.equal((await applyText(h, specText([WEB]))).changed, false);
  assert.equal(h.foreign.xtables[0]?.text.match(/porthole-pass/g)?.length, 2);

  // Docker removed (policy back to ACCEPT): the passes go, and only porthole's.
  for (const x of h.foreign.xtables) x.text = x.text.replace(":FORWARD DROP", ":FORWARD ACCEPT");
  const gone = await applyText(h, specText([WEB]));
  assert.equal(gone.lines.filter((l) => l.startsWith("- pass: ")).length, 2);
  assert.doesNotMatch(JSON.stringify(h.foreign.xtables), /porthole-pass/);
  assert.match(JSON.stringify(h.foreign.xtables), /DOCKER-USER/);

  const lines = await down(ctx(h));
  assert.equal(lines.includes("- porthole-pass rules in FORWARD"), false, "none left to remove");
});

test("iptables backend: no pass where porthole's own chains live, a pass in the other flavour", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.foreign.iptables = "legacy";
  h.foreign.xtables = [{ flavour: "legacy", family: 4, text: dockerSave }];
  const text = specText([WEB]).replace("hub:\n", "hub:\n  firewall: iptables\n");
  const r = await applyText(h, text);
  assert.equal(r.lines.filter((l) => l.startsWith("+ pass")).length, 0, r.lines.join("\n"));
  h.foreign.xtables.push({ flavour: "nft", family: 4, text: dockerSave });
  const again = await applyText(h, text);
  assert.deepEqual(
    again.lines.filter((l) => l.startsWith("+ pass")).map((l) => l.split(" drops")[0]),
    ["+ pass: iptables-nft filter FORWARD"],
  );
  const lines = await down(ctx(h));
  assert.ok(lines.includes("- porthole-pass rules in FORWARD"));
  assert.doesNotMatch(JSON.stringify(h.foreign.xtables), /porthole-pass/);
});

test("a drop in another nft table is not worked around: apply warns with the fix, changes or not", async () => {
  const h = fakeHost({ "/k": hubKey });
  h.foreign.nft = (
    JSON.parse(fixture("nftables-conf.json")) as { nftables: FakeHost["foreign"]["nft"] }
  ).nftables;
  const r = await applyText(h, specText([WEB]));
  assert.ok(r.changed);
  assert.ok(
    r.warnings.includes(
      "warning: forward web is dropped by nft table inet filter chain forward (policy drop); porthole cannot override another owner's chain",
    ),
    r.warnings.join("\n"),
  );
  assert.ok(r.warnings.includes('    fix: nft insert rule inet filter forward oifname "wg0" accept'));
  assert.ok(r.warnings.some((l) => l.startsWith("warning: the WireGuard port udp/51820 is dropped")));
  assert.equal(
    r.lines.some((l) => l.includes("pass")),
    false,
  );
  const again = await applyText(h, specText([WEB]));
  assert.equal(again.changed, false);
  assert.deepEqual(again.warnings, r.warnings);
});

test("down removes what porthole made and restores sysctl; a second down finds nothing", async () => {
  const h = fakeHost({ "/k": hubKey, "/unrelated": "x" });
  await applyText(h, specText([WEB]));
  const lines = await down(ctx(h));
  assert.ok(lines.includes("- interface wg0"));
  assert.equal(h.ifaces.size, 0);
  assert.equal(h.fw.nft, null);
  assert.equal(h.sysctls.get("net.ipv4.ip_forward"), "0");
  assert.deepEqual([...h.fileMap.keys()].sort(), ["/k", "/state/applied.json.prev", "/unrelated"]);
  assert.deepEqual(await down(ctx(h)), []);
});

test("down --keep-files (a stopping unit): running state goes, files and record stay, the next apply restores", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  const files = [...h.fileMap.keys()].sort();
  const lines = await down(ctx(h), { keepFiles: true });
  assert.ok(
    lines.includes("- interface wg0") && lines.includes("- nftables table inet porthole"),
    lines.join("\n"),
  );
  assert.equal(h.ifaces.size, 0);
  assert.equal(h.fw.nft, null);
  assert.equal(h.sysctls.get("net.ipv4.ip_forward"), "0");
  assert.deepEqual([...h.fileMap.keys()].sort(), files, "unit, sysctl file and record kept");
  const again = await applyText(h, specText([WEB]));
  assert.ok(again.lines.includes("+ interface wg0"), again.lines.join("\n"));
  assert.equal(h.sysctls.get("net.ipv4.ip_forward"), "1");
  // The record still knows the files and the sysctl values from before porthole: a full down works.
  await down(ctx(h));
  assert.equal(h.sysctls.get("net.ipv4.ip_forward"), "0");
  assert.ok(![...h.fileMap.keys()].some((f) => f.startsWith("/root/etc/")), "unit and sysctl files removed");
});

test("a stopping unit saves where peers are now: the next start reaches a peer that moved since the last watch round", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  await applyText(h, specText([WEB, DNS]));
  const prev = h.fileMap.get("/state/applied.json.prev");
  const rpi = () => h.ifaces.get("wg0")?.peers.find((p) => p.publicKey === peers[0]?.key);
  const seenAt = (endpoint: string) => {
    const p = rpi();
    assert.ok(p);
    p.endpoint = endpoint;
  };
  seenAt("198.51.100.2:40001"); // the peer's handshake, as WireGuard records it
  assert.equal((await applyText(h, specText([WEB, DNS]))).changed, false); // a watch round
  assert.match(h.fileMap.get("/state/applied.json") ?? "", /198\.51\.100\.2:40001/);
  assert.equal(h.fileMap.get("/state/applied.json.prev"), prev, "--confirm's previous record is kept");
  seenAt("198.51.100.2:40002"); // the peer rebooted (a new port) and the unit stops before the next round
  await down(ctx(h), { keepFiles: true });
  assert.equal(h.fileMap.get("/state/applied.json.prev"), prev);
  const start = await applyText(h, specText([WEB, DNS]));
  assert.ok(
    start.lines.includes("+ peer rpi 10.8.0.2/32 (last seen at 198.51.100.2:40002)"),
    start.lines.join("\n"),
  );
  assert.equal(rpi()?.endpoint, "198.51.100.2:40002");
});

test("an apply inside porthole's own unit (leaveUnit) does not write the unit file", async () => {
  const h = fakeHost({ "/k": hubKey });
  const text = specText([WEB]);
  const r = loadSpec(text);
  assert.ok(r.ok);
  const res = await apply({ ...ctx(h), leaveUnit: true }, { spec: r.spec, specText: text, hostName: "hub" });
  assert.ok(!res.lines.some((l) => l.includes("porthole-hub.service")), res.lines.join("\n"));
  assert.ok(![...h.fileMap.keys()].some((f) => f.endsWith(".service")));
  assert.ok(
    [...h.fileMap.keys()].some((f) => f.endsWith("99-porthole.conf")),
    "the sysctl file is still written",
  );
});

test("a removed peer is named in the plan (from the last applied record), not shown by its key", async () => {
  const h = fakeHost({ "/k": hubKey });
  await applyText(h, specText([WEB]));
  const r = await applyText(h, specText([WEB], ["rpi"]));
  assert.ok(r.lines.includes("- peer nas 10.8.0.3/32"), r.lines.join("\n"));
  assert.ok(
    !r.lines.some((l) => l.includes((peers[1] as { key: string }).key.slice(0, 8))),
    r.lines.join("\n"),
  );
});
