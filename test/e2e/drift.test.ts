// The hub daemon's watch repairs each kind of drift it can see within a few 2 s rounds, and says so:
// table inet porthole deleted, the interface downed, its address removed, the interface deleted, a
// stray porthole route (either family; another table's is not porthole's), porthole's iptables chains
// left behind on an nftables hub, another owner's nft table dropping forwarded traffic. Its look is
// cheap (host/read-batch.ts, Host.firewall.observe) but must miss none of these.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, withJoinedLab } from "./lab-fixture.ts";

const HELLO = "Hello from the Pi, through the hub.\n";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const share = (lab: Lab) =>
  lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]).then(
    (r) => r.stdout,
    () => "",
  );

test("the hub daemon's watch repairs every kind of drift it looks for within a few rounds, and logs it", async (t) => {
  await withJoinedLab(t, "dr", {}, async (lab) => {
    const daemon = lab.world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
    assert.ok(daemon, "the lab runs the hub daemon");
    const hub = (argv: string[]) => lab.world.exec("hub", argv);
    const logLines = () => lab.world.logTail(daemon.log, 400).split("\n");
    /** Waits (up to `ms`) for a log line after `from` matching `want`; returns the lines since `from`. */
    const logged = async (from: number, want: RegExp, ms = 8000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const since = logLines().slice(from);
        if (since.some((l) => want.test(l))) return since;
        if (Date.now() > deadline) assert.fail(`no log line ${want} within ${ms} ms:\n${since.join("\n")}`);
        await sleep(200);
      }
    };
    const serviceBack = async (what: string, ms = 15_000) => {
      const deadline = Date.now() + ms;
      while ((await share(lab)) !== HELLO) {
        if (Date.now() > deadline) assert.fail(`${what}: the share is not back within ${ms} ms`);
        await sleep(250);
      }
    };
    assert.equal(await share(lab), HELLO);

    const cases: [string, string[][], RegExp][] = [
      [
        "table inet porthole deleted",
        [["nft", "delete", "table", "inet", "porthole"]],
        /^\S+ repaired drift:/,
      ],
      ["wg0 downed", [["ip", "link", "set", "wg0", "down"]], /~ wg0 up/],
      [
        "wg0's address removed",
        [["ip", "addr", "del", "10.8.0.1/24", "dev", "wg0"]],
        /\+ wg0 address 10\.8\.0\.1\/24/,
      ],
      [
        "a stray porthole route (IPv4)",
        [["ip", "route", "add", "10.123.0.0/24", "dev", "wg0", "proto", "81"]],
        /- route 10\.123\.0\.0\/24 dev wg0/,
      ],
      [
        "a stray porthole route (IPv6)",
        [["ip", "-6", "route", "add", "fd00:123::/64", "dev", "wg0", "proto", "81"]],
        /- route fd00:123::\/64 dev wg0/,
      ],
      [
        // In one transaction: a round between a chain and its hook would remove the chain first.
        "porthole's iptables chains left on an nftables hub",
        [
          [
            "iptables-restore",
            "--noflush",
            "*nat\n:PORTHOLE-PREROUTING - [0:0]\n-A PREROUTING -j PORTHOLE-PREROUTING\n" +
              '-A PORTHOLE-PREROUTING -m comment --comment "porthole:0123456789abcdef"\nCOMMIT\n',
          ],
        ],
        /- iptables PORTHOLE-\* chains/,
      ],
      ["wg0 deleted", [["ip", "link", "del", "wg0"]], /\+ interface wg0/],
    ];
    for (const [what, commands, want] of cases) {
      const from = logLines().length;
      const started = Date.now();
      // iptables-restore's last word is its input.
      for (const c of commands)
        await (c[0] === "iptables-restore"
          ? lab.world.exec("hub", c.slice(0, -1), { input: c.at(-1) })
          : hub(c));
      // The steps are logged as they run, "repaired drift" once the round's verify passed.
      const since = await logged(from, /repaired drift/);
      assert.ok(
        since.some((l) => want.test(l)),
        `${what}: the repair names it:\n${since.join("\n")}`,
      );
      await serviceBack(what);
      t.diagnostic(`${what}: repaired and serving after ${Date.now() - started} ms`);
    }
    // Gone for good: the next rounds find nothing more to do.
    assert.equal((await hub(["iptables-save", "-t", "nat"])).stdout.includes("PORTHOLE"), false);
    assert.equal((await hub(["ip", "-6", "route", "show", "dev", "wg0", "proto", "81"])).stdout.trim(), "");

    // Another table's route of porthole's protocol is not porthole's: left alone, no round fails on it.
    await hub(["ip", "route", "add", "10.124.0.0/24", "dev", "wg0", "proto", "81", "table", "100"]);
    const quiet = logLines().length;
    await sleep(5000);
    assert.deepEqual(
      logLines()
        .slice(quiet)
        .filter((l) => /repaired|applied|watch:|fail|error/i.test(l)),
      [],
      "nothing to repair, nothing failed",
    );
    assert.match((await hub(["ip", "route", "show", "table", "100"])).stdout, /10\.124\.0\.0\/24/);

    // Another owner's table dropping forwarded traffic: reported within a round or two, and its end too.
    const from = logLines().length;
    await hub(["nft", "add", "table", "inet", "other"]);
    await hub([
      "nft",
      "add",
      "chain",
      "inet",
      "other",
      "fw",
      "{ type filter hook forward priority -10; policy drop; }",
    ]);
    await logged(from, /warning: forward rpi-tcp-80 is dropped by nft table inet other chain fw/, 6000);
    await hub(["nft", "delete", "table", "inet", "other"]);
    await logged(from, /firewall: nothing on the hub drops porthole's traffic any more/, 6000);
    await serviceBack("another owner's drop removed");
  });
});
