// `porthole doctor` on the hub (issue 11): a healthy lab passes every hub check it can make (exit 0);
// each fault the seed post and support threads name — ip_forward off, a ufw-like INPUT drop on the
// WireGuard port, a Docker-legacy FORWARD DROP policy, a firewalld-like nft table, a service on the hub
// shadowed by a forward, a user's DROP ahead of porthole's jump, a foreign nft rule on the target, a
// target bound to loopback on the peer — makes doctor name it and its fix and exit 4; undoing the fault
// (or running the fix) clears it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, SUPPORT, withJoinedLab, withLab } from "./lab-fixture.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/foreign");
const HELLO = "Hello from the Pi, through the hub.\n";
const share = (lab: Lab) =>
  lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]);

interface Result {
  id: string;
  status: string;
  found: string;
  fix?: string[];
}

const doctor = async (lab: Lab, args: string[] = []) =>
  lab.porthole("hub", ["doctor", ...args], { allowFail: true });

async function doctorJson(lab: Lab): Promise<{ code: number; checks: Result[] }> {
  const r = await doctor(lab, ["--json"]);
  return { code: r.code, checks: (JSON.parse(r.stdout) as { checks: Result[] }).checks };
}

const NAME = "vps.example.net";

test("doctor on a hub set up with hub init (daemon, endpoint by name): healthy passes every check it can make, exit 0; an endpoint name that does not resolve or points elsewhere, and a stopped daemon, are named", async (t) => {
  await withJoinedLab(t, "dh", { hubName: NAME }, async (lab) => {
    // The peer resolves the name (its /etc/hosts); the hub does not yet.
    const unresolved = await doctor(lab);
    assert.equal(unresolved.code, 4, unresolved.stdout);
    assert.match(
      unresolved.stdout,
      new RegExp(
        `^FAIL endpoint +hub\\.endpoint ${NAME.replaceAll(".", "\\.")} does not resolve here: peers cannot find the hub\n +fix: publish an A record: ${NAME.replaceAll(".", "\\.")} -> 203\\.0\\.113\\.1$`,
        "m",
      ),
    );
    lab.world.setHostsEntry("hub", NAME, LAB.hubPublic);

    const r = await doctor(lab);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "porthole doctor, on the hub:");
    for (const id of [
      "daemon",
      "wireguard",
      "endpoint",
      "ip-forward",
      "rp-filter",
      "ruleset",
      "wg-port-input",
      "api-input",
      "forward-drops",
      "shadowed",
      "conntrack",
      "forwards",
    ])
      assert.match(r.stdout, new RegExp(`^ok +${id} `, "m"), `${id} ok:\n${r.stdout}`);
    assert.match(
      r.stdout,
      /^ok +forwards +rpi-tcp-80 tcp\/80 → rpi:8080 \(snat\): 10\.8\.0\.2:8080 accepts connections from the hub$/m,
    );
    assert.match(r.stdout, /^ok +daemon +running \(pid \d+, since /m);
    assert.match(
      r.stdout,
      /^ok +wireguard +wg0 up, udp\/51820, 1 peer; userspace WireGuard: wireguard-go \(pid \d+\)$/m,
    );
    assert.match(
      r.stdout,
      /^ok +endpoint +hub\.endpoint vps\.example\.net resolves to 203\.0\.113\.1, on ens3$/m,
    );
    // The lab runs no systemd: said to be unchecked, not ok. The daemon has the peer probe the public
    // ports from the internet (test/e2e/doctor-peer.test.ts injects the cloud firewall).
    assert.match(r.stdout, /^\?\? +unit +systemd does not run this host/m);
    assert.match(r.stdout, /^ok +outside udp\/51820 +udp\/51820 \(wireguard\) reachable: rpi shook hands/m);
    assert.match(
      r.stdout,
      /^ok +outside tcp\/80 +tcp\/80 \(\S+\) reachable: rpi connected to 203\.0\.113\.1:80/m,
    );
    assert.doesNotMatch(r.stdout, /^(FAIL|warn) /m);
    assert.match(lines.at(-2) ?? "", /^\d+ results: \d+ ok, 0 warn, 0 failed, 1 unknown/);
    const json = await doctorJson(lab);
    assert.equal(json.code, 0);
    assert.deepEqual(
      json.checks.filter((c) => c.status !== "ok").map((c) => c.id),
      ["unit"],
    );

    // The name points at another machine: a warning (behind a cloud's 1:1 NAT that is expected).
    lab.world.setHostsEntry("hub", NAME, "198.51.100.7");
    const elsewhere = await doctor(lab);
    assert.equal(elsewhere.code, 0, "a warning does not fail");
    assert.match(
      elsewhere.stdout,
      /^warn endpoint +hub\.endpoint vps\.example\.net resolves to 198\.51\.100\.7, which is on no public interface of this hub \(203\.0\.113\.1\)/m,
    );
    lab.world.setHostsEntry("hub", NAME, LAB.hubPublic);

    await targetOnLoopback(lab);

    const daemon = lab.world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
    assert.ok(daemon);
    await lab.world.stop(daemon.pid);
    const stopped = await doctor(lab);
    assert.equal(stopped.code, 4, stopped.stdout);
    assert.match(
      stopped.stdout,
      /^FAIL daemon +NOT running: nothing repairs drift, and join tokens and peers' requests get no answer\n +fix: systemctl start porthole-hub /m,
    );
  });
});

/** A plain HTTP server on the peer, bound to `addr`:9090 (the newcomer's `python3 -m http.server --bind`). */
async function serve9090(lab: Lab, addr: string): Promise<number> {
  const code =
    "require('node:http').createServer((q, s) => s.end('nine\\n')).listen(9090, process.argv[1], () => console.log('listening'))";
  const p = await lab.world.spawn("peer", [process.execPath, "-e", code, addr], { label: `http-${addr}` });
  for (let i = 0; i < 50 && !lab.world.logTail(p.log).includes("listening"); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(lab.world.logTail(p.log), /listening/);
  return p.pid;
}

/**
 * The newcomer's case: a target bound to 127.0.0.1 on the peer. `expose` says so instead of "reaches"
 * (and so for a port nothing listens on), the client's curl fails, and the hub's doctor fails the
 * forward naming it and the bind fix; bound to 0.0.0.0 it passes and `expose`'s "reaches" is earned.
 */
async function targetOnLoopback(lab: Lab): Promise<void> {
  const nothing = await lab.porthole("peer", ["expose", "82", "--to", "9092"]);
  assert.equal(nothing.code, 0, "the forward is made: the service may start later");
  assert.match(
    nothing.stdout,
    /^tcp\/82 on vps\.example\.net is forwarded to rpi:9092 \(snat; forward "[^"]+"\)$/m,
  );
  assert.doesNotMatch(nothing.stdout, /reaches/);
  assert.match(nothing.stderr, /^warning on rpi: nothing listens on tcp\/9092 /m);
  await lab.porthole("peer", ["unexpose", "82"]);

  let server = await serve9090(lab, "127.0.0.1");
  const loop = await lab.porthole("peer", ["expose", "81", "--to", "9090"]);
  assert.equal(loop.code, 0);
  assert.match(
    loop.stdout,
    /^tcp\/81 on vps\.example\.net is forwarded to rpi:9090 \(snat; forward "[^"]+"\)$/m,
  );
  assert.doesNotMatch(loop.stdout, /reaches/);
  assert.match(
    loop.stderr,
    /^warning on rpi: tcp\/9090 \(node[^\n]*?\) listens on 127\.0\.0\.1 only: loopback is unreachable through the tunnel \(10\.8\.0\.2\)\n +fix: make the service listen on 0\.0\.0\.0:9090 or 10\.8\.0\.2:9090/m,
  );
  assert.notEqual(
    (await lab.curl(["-m", "3", `http://${LAB.hubPublic}:81/`])).code,
    0,
    "the client's curl fails",
  );

  const failing = await doctor(lab);
  assert.equal(failing.code, 4, failing.stdout);
  assert.match(
    failing.stdout,
    /^FAIL forwards +rpi-tcp-81 tcp\/81 → rpi:9090 \(snat\): 10\.8\.0\.2:9090 refused the hub's connection: rpi is reached; nothing accepts on 10\.8\.0\.2:9090 \(or a firewall there rejects it\)\n +fix: on rpi: start the service or check the forward's target port [^\n]*\n +fix: a service bound to 127\.0\.0\.1 refuses connections through the tunnel: bind it to 0\.0\.0\.0:9090 or 10\.8\.0\.2:9090/m,
  );
  assert.match(failing.stdout, /^ok +forwards +rpi-tcp-80 /m, "the working forward stays ok");

  await lab.world.stop(server);
  server = await serve9090(lab, "0.0.0.0");
  assert.equal((await lab.curl(["-m", "3", `http://${LAB.hubPublic}:81/`])).stdout, "nine\n");
  const fixed = await doctor(lab);
  assert.equal(fixed.code, 0, fixed.stdout);
  assert.match(
    fixed.stdout,
    /^ok +forwards +rpi-tcp-81 tcp\/81 → rpi:9090 \(snat\): 10\.8\.0\.2:9090 accepts connections from the hub$/m,
  );
  const again = await lab.porthole("peer", ["expose", "83", "--to", "9090"]);
  assert.match(
    again.stdout,
    /^tcp\/83 on vps\.example\.net now reaches rpi:9090 \(snat; forward "[^"]+"\)\n +checked on rpi: tcp\/9090 \(node[^\n]*?\) answers on 10\.8\.0\.2/m,
  );
  assert.equal(again.stderr, "");
  await lab.porthole("peer", ["unexpose", "83"]);
  await lab.porthole("peer", ["unexpose", "81"]);
  await lab.world.stop(server);
}

/** Runs doctor with a fault in place: exit 4, the check's FAIL line and its fix; then undoes it: exit 0. */
async function fault(
  lab: Lab,
  name: string,
  inject: () => Promise<unknown>,
  expect: { id: string; found: RegExp; fix: RegExp },
  undo: () => Promise<unknown>,
): Promise<void> {
  await inject();
  const r = await doctor(lab);
  assert.equal(r.code, 4, `${name}: doctor exits 4\n${r.stdout}${r.stderr}`);
  const line = r.stdout.split("\n").findIndex((l) => new RegExp(`^FAIL ${expect.id} `).test(l));
  assert.ok(line >= 0, `${name}: a FAIL ${expect.id} line\n${r.stdout}`);
  const [head, ...fixes] = r.stdout.split("\n").slice(line);
  assert.match(head ?? "", expect.found, name);
  const own = fixes.slice(
    0,
    fixes.findIndex((l) => !/^ +fix: /.test(l)),
  );
  assert.ok(
    own.some((l) => expect.fix.test(l)),
    `${name}: the fix\n${r.stdout}`,
  );
  await undo();
  const after = await doctor(lab);
  assert.equal(after.code, 0, `${name} undone: doctor exits 0\n${after.stdout}`);
}

test("doctor names each hub fault and its fix, exits 4, and passes again once it is undone; --fix turns ip_forward back on", async (t) => {
  // A hub managed with `porthole apply` (no daemon): nothing repairs a fault behind the test's back.
  await withLab(t, "dhf", {}, async (lab) => {
    const hub = (argv: string[]) => lab.world.exec("hub", argv);
    const healthy = await doctor(lab);
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.match(healthy.stdout, /^ok +daemon +not used: this hub is managed with `porthole apply`/m);
    assert.equal((await share(lab)).stdout, HELLO);

    await fault(
      lab,
      "ip_forward off",
      () => hub(["sysctl", "-w", "net.ipv4.ip_forward=0"]),
      {
        id: "ip-forward",
        found: /net\.ipv4\.ip_forward = 0: the kernel forwards no IPv4 packet/,
        fix: /^ +fix: sysctl -w net\.ipv4\.ip_forward=1$/,
      },
      () => hub(["sysctl", "-w", "net.ipv4.ip_forward=1"]),
    );

    // --fix: says what it does, does it, and the forward works again.
    await hub(["sysctl", "-w", "net.ipv4.ip_forward=0"]);
    assert.notEqual((await share(lab)).code, 0, "no forwarding, no share");
    const fixed = await doctor(lab, ["--fix"]);
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.match(fixed.stderr, /^fixing ip-forward: sysctl -w net\.ipv4\.ip_forward=1$/m);
    assert.match(fixed.stdout, /^ok +ip-forward +net\.ipv4\.ip_forward = 1$/m);
    assert.equal((await share(lab)).stdout, HELLO);

    // Strict reverse-path filtering on the tunnel: a warning (exit 0) with the loose setting; --fix sets it.
    await hub(["sysctl", "-w", "net.ipv4.conf.all.rp_filter=1"]);
    const strict = await doctor(lab);
    assert.equal(strict.code, 0, strict.stdout);
    assert.match(
      strict.stdout,
      /^warn rp-filter +strict on wg0 \(net\.ipv4\.conf\.all\.rp_filter = 1, net\.ipv4\.conf\.wg0\.rp_filter = 0; the kernel uses the higher\)[^\n]*\n +fix: sysctl -w net\.ipv4\.conf\.wg0\.rp_filter=2 net\.ipv4\.conf\.all\.rp_filter=2$/m,
    );
    const loosened = await doctor(lab, ["--fix"]);
    assert.match(
      loosened.stderr,
      /^fixing rp-filter: sysctl -w net\.ipv4\.conf\.wg0\.rp_filter=2 net\.ipv4\.conf\.all\.rp_filter=2$/m,
    );
    assert.match(loosened.stdout, /^ok +rp-filter +loose on wg0 /m);
    assert.equal((await share(lab)).stdout, HELLO);

    await fault(
      lab,
      "ufw-like INPUT drop",
      () => hub(["iptables-nft-restore", "--noflush", join(FIXTURES, "ufw.rules")]),
      {
        id: "wg-port-input",
        found: /the WireGuard port udp\/51820 is dropped by iptables-nft filter INPUT \(policy drop\)/,
        fix: /^ +fix: ufw allow 51820\/udp$/,
      },
      () => hub(["nft", "delete", "table", "ip", "filter"]),
    );

    await fault(
      lab,
      "Docker-legacy DROP FORWARD policy",
      () => hub(["iptables-legacy-restore", join(FIXTURES, "docker.rules")]),
      {
        id: "forward-drops",
        found:
          /forward share is dropped by iptables-legacy filter FORWARD \(policy drop\); porthole's marked accepts \(porthole-pass\) are missing there/,
        fix: /^ +fix: porthole apply /,
      },
      // The printed fix.
      () => lab.porthole("hub", ["apply", "--host", "hub"]),
    );
    assert.equal((await share(lab)).stdout, HELLO, "the passes let the forward through");

    await fault(
      lab,
      "firewalld-like table",
      () => hub(["nft", "-f", join(FIXTURES, "firewalld-drop.nft")]),
      {
        id: "forward-drops",
        found: /forward share is dropped by nft table inet firewalld chain filter_FORWARD \(policy drop\)/,
        fix: /^ +fix: firewall-cmd --permanent --zone=trusted --add-interface=wg0 /,
      },
      () => hub(["nft", "delete", "table", "inet", "firewalld"]),
    );

    await fault(
      lab,
      "porthole's table flushed (nftables.service's `flush ruleset`)",
      () => hub(["nft", "flush", "ruleset"]),
      {
        id: "ruleset",
        found: /table inet porthole is missing: nothing DNATs the forwards/,
        fix: /^ +fix: porthole apply$/,
      },
      () => lab.porthole("hub", ["apply", "--host", "hub"]),
    );
    assert.equal((await share(lab)).stdout, HELLO, "apply put the table back");

    // Its chains emptied, its sets and marker kept: apply counts the rules and loads the table whole.
    await fault(
      lab,
      "porthole's chains flushed (`nft flush table inet porthole`)",
      async () => {
        await hub(["nft", "flush", "table", "inet", "porthole"]);
        assert.notEqual((await share(lab)).code, 0, "no rules, no share");
      },
      {
        id: "ruleset",
        found: /table inet porthole is loaded, but its chains hold 0 of the \d+ rules porthole loaded: /,
        fix: /^ +fix: porthole apply \(it counts the rules/,
      },
      async () => {
        const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
        assert.match(applied.stdout, /^~ nftables table inet porthole$/m, applied.stdout);
      },
    );
    assert.equal((await share(lab)).stdout, HELLO, "apply put the rules back");

    let server = 0;
    await fault(
      lab,
      "a service on the hub shadowed by a forward",
      async () => {
        const p = await lab.world.spawn("hub", [process.execPath, join(SUPPORT, "whoami.mjs"), "tcp:80"], {
          label: "shadowed",
        });
        server = p.pid;
        for (let i = 0; i < 50 && !lab.world.logTail(p.log).includes("listening"); i++)
          await new Promise((r) => setTimeout(r, 100));
      },
      {
        id: "shadowed",
        found:
          /tcp\/80 is in use on the hub: node \(pid \d+\) listens on 0\.0\.0\.0:80; forward share takes its traffic from the internet/,
        fix: /^ +fix: move the service off tcp\/80, or porthole forward rm share$/,
      },
      () => lab.world.stop(server),
    );
  });
});

/** The command of a printed fix line ("  fix: CMD   (why)") as an argument array. */
const fixArgv = (stdout: string, re: RegExp): string[] => {
  const line = stdout.split("\n").find((l) => re.test(l));
  assert.ok(line, `a fix line matching ${re}\n${stdout}`);
  return line
    .replace(/^ +fix: /, "")
    .split("   (")[0]
    ?.trim()
    .split(" ") as string[];
};

test("doctor fails a certain drop of the forward's target and prints a fix that, run, brings the forward back: a user's DROP ahead of porthole's jump (iptables backend), a foreign nft rule on the target's address and port", async (t) => {
  await withLab(t, "dfd", { backend: "iptables" }, async (lab) => {
    const hub = (argv: string[]) => lab.world.exec("hub", argv);
    const healthy = await doctor(lab);
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.equal((await share(lab)).stdout, HELLO);

    // The newcomer's rule, in the flavour porthole's own chains live in.
    await hub([
      "iptables",
      "-I",
      "FORWARD",
      "1",
      "-p",
      "tcp",
      "-d",
      "10.8.0.2",
      "--dport",
      "8080",
      "-j",
      "DROP",
    ]);
    assert.notEqual((await share(lab)).code, 0, "the DROP kills the forward");
    const dropped = await doctor(lab);
    assert.equal(dropped.code, 4, dropped.stdout);
    assert.match(
      dropped.stdout,
      /^FAIL forward-drops +forward share is dropped by iptables-nft filter FORWARD \(rule `-A FORWARD -d 10\.8\.0\.2\/32 -p tcp -m tcp --dport 8080 -j DROP`\)/m,
    );
    const status = await lab.porthole("hub", ["status"], { allowFail: true });
    const fix = /^ +fix: iptables-nft -D FORWARD -d 10\.8\.0\.2\/32 -p tcp -m tcp --dport 8080 -j DROP /;
    assert.ok(
      status.stdout.split("\n").some((l) => fix.test(l)),
      `status prints the same fix\n${status.stdout}`,
    );
    const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
    assert.doesNotMatch(applied.stdout, /porthole apply/, "apply does not send the user back to apply");
    await hub(fixArgv(dropped.stdout, fix));
    assert.equal((await share(lab)).stdout, HELLO, "the printed fix brings the forward back");
    assert.equal((await doctor(lab)).code, 0);

    // A foreign nft table dropping the DNAT'd target: certain, so FAIL, the handle outside the quotes.
    await hub(["nft", "-f", join(FIXTURES, "nbx-drop.nft")]);
    assert.notEqual((await share(lab)).code, 0, "the nft rule kills the forward");
    const nbx = await doctor(lab);
    assert.equal(nbx.code, 4, nbx.stdout);
    assert.match(
      nbx.stdout,
      /^FAIL forward-drops +forward share is dropped by nft table inet nbx chain myforward \(rule `ip daddr 10\.8\.0\.2 tcp dport 8080 drop` \(handle \d+\)\)/m,
    );
    await hub(fixArgv(nbx.stdout, /^ +fix: nft insert rule inet nbx myforward oifname /));
    await hub(fixArgv(nbx.stdout, /^ +fix: nft insert rule inet nbx myforward iifname /));
    assert.equal((await share(lab)).stdout, HELLO, "the printed fix brings the forward back");
    const after = await doctor(lab);
    assert.equal(after.code, 0, after.stdout);
    await hub(["nft", "delete", "table", "inet", "nbx"]);
  });
});
