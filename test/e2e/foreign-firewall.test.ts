// Firewalls porthole does not own, on the hub (issue 8 §4): a Docker-like FORWARD DROP in either
// iptables flavour is passed with marked accepts; a drop in another nft table, or on the WireGuard
// port, is found and reported (apply, the daemon's log, status, /metrics) with the fix that works.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import type { Backend } from "../../src/spec/types.ts";
import { type Lab, withJoinedLab, withLab } from "./lab-fixture.ts";

const HELLO = "Hello from the Pi, through the hub.\n";
const share = (lab: Lab) =>
  lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]);
const FIXTURES = join(import.meta.dirname, "../fixtures/foreign");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await sleep(250);
  }
}

const BACKENDS: Backend[] = ["nftables", "iptables"];

for (const backend of BACKENDS) {
  test(`a Docker-like FORWARD DROP in iptables-legacy and iptables-nft: marked passes, the forward works, down removes only them (${backend})`, async (t) => {
    await withLab(t, "fl", { backend }, async (lab) => {
      const hub = (argv: string[], allowFail = false) => lab.world.exec("hub", argv, { allowFail });
      assert.equal((await share(lab)).stdout, HELLO);
      // Docker's shape in the legacy tables (a FORWARD DROP policy and its chains).
      await hub(["iptables-legacy-restore", join(FIXTURES, "docker.rules")]);
      assert.notEqual((await share(lab)).code, 0, "the legacy FORWARD DROP stops the forward");
      const legacyBefore = (await hub(["iptables-legacy", "-S"])).stdout;

      const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.match(
        applied.stdout,
        /^\+ pass: iptables-legacy filter FORWARD drops forwarded traffic by policy/m,
      );
      assert.doesNotMatch(applied.stdout, /^warning:/m, "nothing left for the user");
      assert.equal((await share(lab)).stdout, HELLO);
      const legacy = (await hub(["iptables-legacy", "-S", "FORWARD"])).stdout;
      assert.match(legacy, /^-P FORWARD DROP$/m, "Docker's policy is left as it was");
      assert.match(legacy, /^-A FORWARD -o wg0 -m comment --comment porthole-pass -j ACCEPT$/m);
      assert.match(legacy, /^-A FORWARD -i wg0 -m comment --comment porthole-pass -j ACCEPT$/m);
      const again = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.equal(again.stdout.trim(), "hub: no changes");

      // The same drop in iptables-nft too: there it is porthole's own flavour on the iptables backend
      // (its hook accepts the forwards), a second pass with nftables.
      await hub(["iptables-nft", "-P", "FORWARD", "DROP"]);
      const second = await lab.porthole("hub", ["apply", "--host", "hub"]);
      if (backend === "nftables")
        assert.match(
          second.stdout,
          /^\+ pass: iptables-nft filter FORWARD drops forwarded traffic by policy/m,
        );
      else assert.equal(second.stdout.trim(), "hub: no changes");
      assert.equal((await share(lab)).stdout, HELLO);

      await lab.porthole("hub", ["down"]);
      assert.equal((await hub(["iptables-legacy", "-S"])).stdout, legacyBefore);
      assert.doesNotMatch((await hub(["iptables-nft-save"])).stdout, /porthole/);
    });
  });
}

for (const backend of BACKENDS) {
  test(`a firewalld-like forward policy drop is reported by apply, the daemon's log, status and /metrics, and its printed fix works (${backend})`, async (t) => {
    await withJoinedLab(t, "fd", { backend }, async (lab) => {
      const hub = (argv: string[]) => lab.world.exec("hub", argv);
      const daemon = lab.world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
      assert.ok(daemon);
      const status = async () => (await lab.porthole("hub", ["status"])).stdout;
      const metrics = async () =>
        (await lab.world.exec("peer", ["curl", "-sS", "-m", "5", "http://10.8.0.1:51821/metrics"])).stdout;
      assert.equal((await share(lab)).stdout, HELLO);
      assert.match(
        await status(),
        /working: yes \(the target accepts connections from the hub; no firewall on the hub drops it\)/,
      );

      await hub(["nft", "-f", join(FIXTURES, "firewalld-drop.nft")]);
      assert.notEqual((await share(lab)).code, 0, "the foreign table's drop stops the forward");

      const applied = await lab.porthole("hub", ["apply"]);
      assert.match(
        applied.stdout,
        /^warning: forward rpi-tcp-80 is dropped by nft table inet firewalld chain filter_FORWARD \(policy drop\); porthole cannot override another owner's chain$/m,
      );
      assert.match(applied.stdout, /^ {4}fix: firewall-cmd --permanent --zone=trusted --add-interface=wg0 /m);
      const text = await status();
      assert.match(
        text,
        /working: NO, blocked on the hub by nft table inet firewalld chain filter_FORWARD \(policy drop\) \(fix below\)/,
      );
      assert.doesNotMatch(text, /working: yes/);
      const json = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout);
      const fwd = json.forwards.find((f: { name: string }) => f.name === "rpi-tcp-80");
      assert.equal(fwd.working, false);
      assert.equal(
        fwd.reachable,
        true,
        "the tunnel probe alone still answers: it says nothing about the public path",
      );
      assert.match(await metrics(), /^porthole_forward_blocked\{forward="rpi-tcp-80",peer="rpi"\} 1$/m);
      assert.match(
        await metrics(),
        /^porthole_firewall_drop\{path="forward",where="nft table inet firewalld chain filter_FORWARD",by="policy drop",certain="yes",forwards="rpi-tcp-80"\} 1$/m,
      );
      const warning = "forward rpi-tcp-80 is dropped by nft table inet firewalld chain filter_FORWARD";
      await eventually(
        "the daemon logs the drop",
        async () => lab.world.logTail(daemon.log, 200),
        (l) => l.includes(warning),
      );

      // The fix as printed (the nft lines take effect at once).
      const fixes = [...applied.stdout.matchAll(/^ {4}fix: (nft insert rule .*?)(?: {3}\(.*\))?$/gm)].map(
        (m) => m[1] as string,
      );
      assert.equal(fixes.length, 2, applied.stdout);
      for (const fix of fixes) await hub(fix.split(" "));
      assert.equal((await share(lab)).stdout, HELLO);
      assert.match(
        await status(),
        /working: yes \(the target accepts connections from the hub; no firewall on the hub drops it\)/,
      );
      assert.match(await metrics(), /^porthole_forward_blocked\{forward="rpi-tcp-80",peer="rpi"\} 0$/m);
      assert.doesNotMatch(await metrics(), /^porthole_firewall_drop\{path="forward"/m);
      const log = await eventually(
        "the daemon logs that the drop is gone",
        async () => lab.world.logTail(daemon.log, 200),
        (l) => l.includes("firewall: nothing on the hub drops porthole's traffic any more"),
      );
      assert.equal(log.split(warning).length - 1, 1, `logged once per change, not every tick:\n${log}`);
    });
  });
}

for (const backend of BACKENDS) {
  test(`a ufw-like INPUT drop on the WireGuard port is reported with the ufw line; the forward still works (${backend})`, async (t) => {
    await withLab(t, "fu", { backend }, async (lab) => {
      await lab.world.exec("hub", ["iptables-nft-restore", "--noflush", join(FIXTURES, "ufw.rules")]);
      const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.match(
        applied.stdout,
        /^warning: the WireGuard port udp\/51820 is dropped by iptables-nft filter INPUT \(policy drop\); porthole cannot override another owner's chain\n {4}fix: ufw allow 51820\/udp$/m,
      );
      assert.match(
        applied.stdout,
        /^warning: the hub's API through the tunnel \(tcp\/51821\) is dropped by iptables-nft filter INPUT \(policy drop\)[^\n]*\n {4}fix: ufw allow in on wg0 to any port 51821 proto tcp$/m,
      );
      assert.equal((await share(lab)).stdout, HELLO, "ufw's FORWARD DROP is passed");
      // ufw allow 51820/udp (what it adds to ufw-user-input) clears the WireGuard finding.
      await lab.world.exec("hub", [
        "iptables-nft",
        "-A",
        "ufw-user-input",
        "-p",
        "udp",
        "-m",
        "udp",
        "--dport",
        "51820",
        "-j",
        "ACCEPT",
      ]);
      const again = await lab.porthole("hub", ["apply", "--host", "hub", "--dry-run"]);
      assert.doesNotMatch(again.stdout, /WireGuard port/);
      assert.match(again.stdout, /API through the tunnel/);
    });
  });
}
