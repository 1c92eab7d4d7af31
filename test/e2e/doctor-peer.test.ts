// `porthole doctor` on the peer, and the hub's "reachable from the outside" probe made by the peer
// (issue 11): a healthy joined lab passes; each fault — a cloud firewall in the lab's internet dropping
// the public port (a forward whose allow-list leaves the peer out is not judged from it), the target
// bound to loopback, the home link's MTU lowered with ICMP filtered, another route taking the SNAT
// pool, a transparent forward's policy
// route removed, the peer's agent stopped (and the hub changed meanwhile: the peer's copy of the spec
// behind), the hub unreachable through the tunnel — is named with its fix, and doctor exits 4.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cloudFirewall, homeLinkBlackHole } from "../../src/lab/faults.ts";
import { WEBDAV } from "../../src/lab/lab.ts";
import { startWebdav } from "../../src/lab/services.ts";
import { type Lab, withJoinedLab } from "./lab-fixture.ts";

const doctor = (lab: Lab, host: "hub" | "peer") => lab.porthole(host, ["doctor"], { allowFail: true });

/** The FAIL line of check `id` and the fix lines under it. */
function failed(out: string, id: string): { line: string; fixes: string[] } {
  const lines = out.split("\n");
  const at = lines.findIndex((l) => l.startsWith(`FAIL ${id} `));
  assert.ok(at >= 0, `a FAIL ${id} line in:\n${out}`);
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !/^ +fix: /.test(l));
  return { line: lines[at] as string, fixes: rest.slice(0, end < 0 ? rest.length : end) };
}

test("doctor on the peer and the hub's outside probe: healthy passes, each fault is named with its fix and exits 4", async (t) => {
  await withJoinedLab(t, "dp", {}, async (lab) => {
    // Healthy: every peer check ok, exit 0.
    const ok = await doctor(lab, "peer");
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    for (const line of [
      /^ok +agent +porthole peer run is running \(pid \d+, since \S+\)$/m,
      /^ok +handshake +last handshake \d+ seconds? ago, endpoint 203\.0\.113\.1:51820$/m,
      /^ok +hub-api +the hub's API at http:\/\/10\.8\.0\.1:\d+ answers/m,
      /^ok +spec +this peer's copy of the hub's spec is the one the hub serves now$/m,
      /^ok +hub-name +the endpoint is an address \(203\.0\.113\.1\), the one the tunnel uses: nothing to resolve$/m,
      /^ok +target rpi-tcp-80 tcp +tcp\/8080 \(rclone \(pid \d+\)\) answers on 10\.8\.0\.2 \(listening on \*\)$/m,
      /^ok +path-mtu +1420-byte packets cross the tunnel; path MTU to 203\.0\.113\.1 ≥ 1480$/m,
      /^ok +snat-pool +snat clients arrive from 240\.0\.0\.0\/8/m,
      /^ok +clock +this machine's clock agrees with the hub's/m,
    ])
      assert.match(ok.stdout, line);
    assert.doesNotMatch(ok.stdout, /^(FAIL|warn|\?\?) /m, ok.stdout);

    // The hub asks the peer to probe its public ports from the internet: both reachable.
    const hub = await doctor(lab, "hub");
    assert.match(
      hub.stdout,
      /^ok +outside udp\/51820 +udp\/51820 \(wireguard\) reachable: rpi shook hands through 203\.0\.113\.1:51820 over the internet \d+ seconds? ago$/m,
    );
    assert.match(
      hub.stdout,
      /^ok +outside tcp\/80 +tcp\/80 \(rpi-tcp-80\) reachable: rpi connected to 203\.0\.113\.1:80 over the internet$/m,
    );

    // A cloud firewall in front of the hub drops tcp/80: invisible on the hub, seen from the peer.
    await cloudFirewall(lab.world, "tcp", 80, true);
    const fw = await doctor(lab, "hub");
    assert.equal(fw.code, 4, fw.stdout);
    const cloud = failed(fw.stdout, "outside tcp/80");
    assert.match(
      cloud.line,
      /tcp\/80 \(rpi-tcp-80\) NOT reachable from the internet: rpi's connect to 203\.0\.113\.1:80 got no answer/,
    );
    assert.match(cloud.fixes.join("\n"), /allow tcp\/80 inbound in the VPS provider's firewall/);
    assert.match(fw.stdout, /^ok +outside udp\/51820 /m, "the WireGuard port is still open");
    await cloudFirewall(lab.world, "tcp", 80, false);

    // A forward open to an office network only: the hub's own allow-list drops the peer's probe, so
    // its port is not judged from the peer (not a cloud firewall, not "NOT reachable").
    const office = await lab.porthole("peer", ["expose", "8090", "--to", "8080", "--allow", "192.0.2.0/24"]);
    assert.equal(office.code, 0, office.stderr);
    const listed = await doctor(lab, "hub");
    assert.match(
      listed.stdout,
      /^\?\? +outside tcp\/8090 +tcp\/8090 \(rpi-tcp-8090\): not judged from rpi: its address is not in the forward's allow-list \(192\.0\.2\.0\/24\), so the hub drops its probe by design$/m,
      listed.stdout,
    );
    assert.match(
      listed.stdout,
      /^ +find out: from an address in the allow-list: nc -vz -w 3 203\.0\.113\.1 8090$/m,
    );
    assert.match(listed.stdout, /^ok +outside tcp\/80 /m, "the open forward is still judged");
    assert.equal((await lab.porthole("peer", ["unexpose", "8090"])).code, 0);

    // The share restarted bound to loopback: it answers on the Pi itself, not through the tunnel.
    const webdav = lab.world.running().find((p) => p.host === "peer" && p.argv.includes("webdav"));
    assert.ok(webdav);
    const dir = webdav.argv.at(-1) as string;
    await lab.world.stop(webdav.pid);
    const loop = await lab.world.spawn(
      "peer",
      ["rclone", "serve", "webdav", "--addr", `127.0.0.1:${WEBDAV.port}`, dir],
      { label: "webdav-lo" },
    );
    for (let i = 0; i < 50; i++) {
      const r = await lab.world.exec(
        "peer",
        ["curl", "-s", "-o", "/dev/null", "-m", "1", `http://127.0.0.1:${WEBDAV.port}/`],
        { allowFail: true },
      );
      if (r.code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const bound = await doctor(lab, "peer");
    assert.equal(bound.code, 4, bound.stdout);
    const target = failed(bound.stdout, "target rpi-tcp-80 tcp");
    assert.match(
      target.line,
      /tcp\/8080 \(rclone \(pid \d+\)\) listens on 127\.0\.0\.1 only: loopback is unreachable through the tunnel \(10\.8\.0\.2\)/,
    );
    assert.match(target.fixes.join("\n"), /make the service listen on 0\.0\.0\.0:8080 or 10\.8\.0\.2:8080/);
    await lab.world.stop(loop.pid);
    await startWebdav(lab.world, dir, WEBDAV.user, WEBDAV.pass, WEBDAV.port);

    // The home link carries 1400-byte packets and its router filters ICMP: full-size tunnel packets
    // (1420 + 60) vanish. Doctor measures both paths and names the MTU to set: 1400 - 60. (Through the
    // tunnel the largest packet that passes is lower, 1328 here: WireGuard pads to 16 bytes.)
    await homeLinkBlackHole(lab.world, 1400);
    const hole = await doctor(lab, "peer");
    assert.equal(hole.code, 4, hole.stdout);
    const mtu = failed(hole.stdout, "path-mtu");
    assert.match(
      mtu.line,
      /packets over 13[0-4]\d bytes are lost in the tunnel \(MTU 1420\): a path MTU black hole; path MTU to 203\.0\.113\.1 is 1400 \(ICMP "fragmentation needed" does not come back\)/,
    );
    assert.match(mtu.fixes.join("\n"), /set `hub: \{ mtu: 1340 \}` in porthole\.yaml, then porthole apply/);
    await homeLinkBlackHole(lab.world, null);

    // snat clients arrive from the pool (hub.snatPool, as hub init writes it). Another program's more
    // specific route takes part of it (a VPN, a container network): replies to those clients would
    // leave by the home link. No apply can fix that: doctor names the route to look at.
    const poolOk =
      /^ok +snat-pool +snat clients arrive from 240\.0\.0\.0\/8: in the hub's AllowedIPs, and a reply to 240\.0\.0\.1 leaves by wg0$/m;
    assert.match((await doctor(lab, "peer")).stdout, poolOk);
    const home = JSON.parse(
      (await lab.world.exec("peer", ["ip", "-j", "route", "show", "default"])).stdout,
    )[0]?.dev as string;
    await lab.world.exec("peer", ["ip", "route", "add", "240.0.0.0/16", "dev", home]);
    const taken = await doctor(lab, "peer");
    assert.equal(taken.code, 4, taken.stdout);
    const pool = failed(taken.stdout, "snat-pool");
    assert.match(
      pool.line,
      new RegExp(
        `would not be answered through the tunnel: a reply to 240\\.0\\.0\\.1 leaves by ${home}, not wg0; another program's route 240\\.0\\.0\\.0/16 dev ${home} takes part of the pool$`,
      ),
    );
    assert.match(
      pool.fixes.join("\n"),
      new RegExp(
        `another route takes 240\\.0\\.0\\.0/16 dev ${home} \\(see \`ip route show root 240\\.0\\.0\\.0/8\`\\)`,
      ),
    );
    await lab.world.exec("peer", ["ip", "route", "del", "240.0.0.0/16", "dev", home]);
    assert.match((await doctor(lab, "peer")).stdout, poolOk);
    // One away from the address doctor sends to: named all the same.
    await lab.world.exec("peer", ["ip", "route", "add", "240.5.0.0/16", "dev", home]);
    const inside = await doctor(lab, "peer");
    assert.equal(inside.code, 4, inside.stdout);
    assert.match(
      failed(inside.stdout, "snat-pool").line,
      new RegExp(`: another program's route 240\\.5\\.0\\.0/16 dev ${home} takes part of the pool$`),
    );
    await lab.world.exec("peer", ["ip", "route", "del", "240.5.0.0/16", "dev", home]);
    assert.match((await doctor(lab, "peer")).stdout, poolOk);
    // Another program's route to the very prefix (a pool equal to the home LAN has its kernel route):
    // apply refuses to add porthole's over it, and never replaces it.
    await lab.world.exec("peer", ["ip", "route", "del", "240.0.0.0/8", "dev", "wg0"]);
    await lab.world.exec("peer", ["ip", "route", "add", "240.0.0.0/8", "dev", home]);
    const clash = await lab.porthole("peer", ["apply"], { allowFail: true });
    assert.equal(clash.code, 3, clash.stdout + clash.stderr);
    assert.match(
      clash.stderr,
      /ip route add 240\.0\.0\.0\/8 dev wg0 proto 81.*File exists: another route to 240\.0\.0\.0\/8 is on this machine \(`ip route show 240\.0\.0\.0\/8`\), and porthole does not replace it; set hub\.snatPool on the hub to a prefix this machine does not route/,
    );
    const kept = await lab.world.exec("peer", ["ip", "route", "show", "240.0.0.0/8"]);
    assert.match(kept.stdout, new RegExp(`^240\\.0\\.0\\.0/8 dev ${home} `, "m"));
    assert.doesNotMatch(kept.stdout, /dev wg0/);
    await lab.world.exec("peer", ["ip", "route", "del", "240.0.0.0/8", "dev", home]);
    assert.equal((await lab.porthole("peer", ["apply"])).code, 0);
    assert.match((await doctor(lab, "peer")).stdout, poolOk);

    // A transparent forward whose policy rule and route are gone: replies would leave by eth0.
    const exposed = await lab.porthole("peer", ["expose", "8443", "--to", "8443", "--transparent"]);
    assert.equal(exposed.code, 0, exposed.stderr);
    await lab.world.exec("peer", ["ip", "rule", "del", "fwmark", "0x5180/0x5180", "lookup", "5180"]);
    await lab.world.exec("peer", ["ip", "route", "flush", "table", "5180"]);
    const routes = await doctor(lab, "peer");
    assert.equal(routes.code, 4, routes.stdout);
    const tr = failed(routes.stdout, "transparent");
    assert.match(
      tr.line,
      /the rule `fwmark 0x5180\/0x5180 lookup 5180` or table 5180's route via wg0 is missing/,
    );
    assert.match(tr.line, /a marked reply to 203\.0\.113\.1 leaves by eth0, not wg0/);
    assert.match(tr.fixes.join("\n"), /porthole apply/);
    const applied = await lab.porthole("peer", ["apply", "--host", "rpi"], { allowFail: true });
    const back = await doctor(lab, "peer");
    assert.match(
      back.stdout,
      /^ok +transparent +marks, rule fwmark 0x5180\/0x5180 -> table 5180 and its route via wg0 are in place; a marked reply to 203\.0\.113\.1 leaves by wg0$/m,
      `${applied.stdout}${applied.stderr}\n${back.stdout}`,
    );

    // The peer's agent stopped: the tunnel stays, doctor says nothing takes the hub's changes or
    // follows a new home address.
    const agent = lab.world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
    assert.ok(agent, "the peer agent runs");
    await lab.world.stop(agent.pid);
    const stopped = await doctor(lab, "peer");
    assert.equal(stopped.code, 4, stopped.stdout);
    const noAgent = failed(stopped.stdout, "agent");
    assert.match(noAgent.line, /porthole peer run is NOT running: the tunnel stays as it is/);
    assert.match(noAgent.fixes.join("\n"), /systemctl start porthole-peer/);

    // The hub changes while the agent is stopped: this peer's copy of the spec is behind. Doctor asks
    // the hub, names what differs, and judges the hub's new forward (not only the copy's).
    const late = await lab.porthole("hub", [
      "forward",
      "add",
      "--port",
      "8095",
      "--peer",
      "rpi",
      "--target-port",
      "8080",
      "--name",
      "late",
    ]);
    assert.equal(late.code, 0, late.stderr);
    const behind = await doctor(lab, "peer");
    assert.equal(behind.code, 4, behind.stdout);
    const copy = failed(behind.stdout, "spec");
    assert.match(
      copy.line,
      /this peer has not taken the hub's latest spec \(it differs in: forwards new on the hub: late\): the agent, which takes the hub's changes and applies this peer's part, is not running/,
    );
    assert.match(copy.fixes.join("\n"), /systemctl start porthole-peer/);
    assert.match(behind.stdout, /^ok +target late tcp +tcp\/8080 /m, "the hub's new forward is judged");

    // The hub unreachable: its WireGuard port drops everything. The API no longer answers through the
    // tunnel (the handshake stays "recent" for up to 135 s; its staleness is unit-tested).
    await lab.world.exec("hub", ["nft", "-f", "/dev/stdin"], {
      input:
        "table inet lab_block {\n  chain input { type filter hook input priority -10; udp dport 51820 drop; }\n}\n",
    });
    const gone = await doctor(lab, "peer");
    assert.equal(gone.code, 4, gone.stdout);
    const api = failed(gone.stdout, "hub-api");
    assert.match(api.line, /the hub's API at http:\/\/10\.8\.0\.1:\d+ did not answer through the tunnel/);
    assert.match(api.fixes.join("\n"), /see the handshake line; on the hub: porthole status/);
    assert.match(
      gone.stdout,
      /^\?\? +clock +the hub's API did not answer with its time/m,
      "the clock is unknown, not ok",
    );
  });
});
