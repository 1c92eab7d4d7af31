// Applying is idempotent, rolls back on failure, reverts unless confirmed, never touches other
// owners' rules, and comes back after a reboot.
import assert from "node:assert/strict";
import { chmod, mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, SUPPORT, specWith, withLab } from "./lab-fixture.ts";

const share = (lab: Lab) =>
  lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]);
const EXTRA = "{ name: extra, port: 8000, peer: rpi, targetPort: 9000 }";

/**
 * The hub's peers and porthole's whole table. The marker set's generation numbers are left out: a
 * revert patches forward to the old ruleset (same marker, next generation) rather than back in time.
 */
async function hubState(lab: Lab): Promise<string> {
  const wg = await lab.world.exec("hub", ["wg", "show", "wg0", "dump"]);
  const nft = await lab.world.exec("hub", ["nft", "list", "table", "inet", "porthole"]);
  return `${wg.stdout
    .split("\n")
    .map((l) => l.split("\t").slice(0, 4).join(" "))
    .join("\n")}\n${nft.stdout.replace(/0x[0-9a-f]+ (comment "porthole:)/g, "$1")}`;
}

test("a second apply changes nothing; a failed apply leaves the hub as it was", async (t) => {
  await withLab(t, "rb", {}, async (lab) => {
    const dry = await lab.porthole("hub", ["apply", "--host", "hub", "--dry-run"]);
    assert.equal(dry.stdout.trim(), "no changes");
    const before = await hubState(lab);

    await lab.writeSpec(specWith(lab, "nftables", "snat", [EXTRA]));
    const plan = await lab.porthole("hub", ["apply", "--host", "hub", "--dry-run"]);
    assert.match(plan.stdout, /^\+ forward extra tcp\/8000 → rpi:9000 \(snat\)$/m);

    const bin = await mkdtemp(join(tmpdir(), "porthole-fail-"));
    await symlink(join(SUPPORT, "failing-nft.mjs"), join(bin, "nft"));
    await chmod(join(SUPPORT, "failing-nft.mjs"), 0o755);
    const failed = await lab.porthole("hub", ["apply", "--host", "hub"], {
      allowFail: true,
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(failed.code, 3, failed.stderr);
    assert.match(failed.stderr, /injected failure[\s\S]*put back as it was/);
    assert.equal(await hubState(lab), before);
    assert.equal((await share(lab)).stdout, "Hello from the Pi, through the hub.\n");
  });
});

test("apply --confirm reverts by itself unless confirmed", async (t) => {
  await withLab(t, "cf", {}, async (lab) => {
    const before = await hubState(lab);
    await lab.writeSpec(specWith(lab, "nftables", "snat", [EXTRA]));
    const r = await lab.porthole("hub", ["apply", "--host", "hub", "--confirm", "5"]);
    assert.match(r.stdout, /will revert in 5 s unless you run `porthole confirm`/);
    assert.notEqual(await hubState(lab), before);
    await new Promise((res) => setTimeout(res, 8000));
    assert.equal(await hubState(lab), before, "reverted after the deadline");

    await lab.porthole("hub", ["apply", "--host", "hub", "--confirm", "5"]);
    const after = await hubState(lab);
    assert.match((await lab.porthole("hub", ["confirm"])).stdout, /confirmed/);
    await new Promise((res) => setTimeout(res, 7000));
    assert.equal(await hubState(lab), after, "kept once confirmed");
  });
});

test("foreign rules survive apply and down; a Docker-like FORWARD DROP does not stop the forward", async (t) => {
  await withLab(t, "fr", {}, async (lab) => {
    const hub = (argv: string[]) => lab.world.exec("hub", argv);
    await lab.porthole("hub", ["down"]);
    await lab.porthole("peer", ["down"]);
    await hub(["nft", "add", "table", "inet", "foreign"]);
    await hub([
      "nft",
      "add",
      "chain",
      "inet",
      "foreign",
      "input",
      "{ type filter hook input priority 0; policy accept; }",
    ]);
    await hub([
      "nft",
      "add",
      "rule",
      "inet",
      "foreign",
      "input",
      "tcp",
      "dport",
      "2222",
      "counter",
      "accept",
    ]);
    await hub(["iptables", "-A", "INPUT", "-s", "192.0.2.7", "-j", "DROP"]);
    await hub(["iptables", "-P", "FORWARD", "DROP"]);
    const foreign = async () => {
      const nft = await hub(["nft", "list", "table", "inet", "foreign"]);
      const ipt = await hub(["iptables", "-S"]);
      return `${nft.stdout}${ipt.stdout
        .split("\n")
        .filter((l) => !l.includes("porthole"))
        .join("\n")}`;
    };
    const before = await foreign();

    const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
    assert.match(applied.stdout, /\+ pass: iptables-nft filter FORWARD drops forwarded traffic by policy/);
    await lab.porthole("peer", ["apply", "--host", WEBDAV.peer]);
    assert.equal((await share(lab)).stdout, "Hello from the Pi, through the hub.\n");
    assert.equal(await foreign(), before);

    await lab.porthole("hub", ["down"]);
    assert.equal(await foreign(), before);
    const left = await hub(["nft", "list", "ruleset"]);
    assert.doesNotMatch(left.stdout, /porthole/);
    assert.equal(await hub(["ip", "link", "show", "wg0"]).catch(() => null), null);
  });
});

test("after a reboot (interface, rules and sysctl gone), apply --from-state brings the service back", async (t) => {
  await withLab(t, "rs", {}, async (lab) => {
    const hub = (argv: string[]) => lab.world.exec("hub", argv);
    assert.equal((await share(lab)).stdout, "Hello from the Pi, through the hub.\n");
    // A later apply (or the hub daemon) remembers where the peer was seen.
    assert.equal((await lab.porthole("hub", ["apply", "--host", "hub"])).stdout.trim(), "hub: no changes");
    await hub(["ip", "link", "del", "wg0"]);
    await hub(["nft", "delete", "table", "inet", "porthole"]);
    await hub(["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    assert.notEqual((await lab.curl(["-m", "2", `http://${LAB.hubPublic}/`])).code, 0);

    const unit = await lab.porthole("hub", ["apply", "--from-state"]);
    assert.match(unit.stdout, /\+ interface wg0/);
    assert.match(unit.stdout, /\+ peer rpi 10\.8\.0\.2\/32 \(last seen at 198\.51\.100\.2:\d+\)/);
    let ok = "";
    for (let i = 0; i < 20 && !ok; i++) {
      ok = (await share(lab)).stdout;
      if (!ok) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(ok, "Hello from the Pi, through the hub.\n");
  });
});

test("switching the firewall backend replaces one ruleset with the other, both ways", async (t) => {
  await withLab(t, "bk", {}, async (lab) => {
    for (const backend of ["iptables", "nftables"] as const) {
      await lab.writeSpec(specWith(lab, backend, "snat", []));
      const r = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        (await share(lab)).stdout,
        "Hello from the Pi, through the hub.\n",
        `after switching to ${backend}`,
      );
      const nft = await lab.world.exec("hub", ["nft", "list", "tables"]);
      const ipt = await lab.world.exec("hub", ["iptables-save"]);
      assert.equal(nft.stdout.includes("inet porthole"), backend === "nftables");
      assert.equal(ipt.stdout.includes("PORTHOLE-"), backend === "iptables");
    }
  });
});
