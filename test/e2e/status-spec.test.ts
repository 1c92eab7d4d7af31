// `status` finds the spec and the host's state the way every command does: --spec/$PORTHOLE_SPEC, a
// peer set up with `porthole apply` sees the hub, and a hub after `down` does not claim to listen.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { specWith, withLab } from "./lab-fixture.ts";

test("status honours --spec and $PORTHOLE_SPEC, a static peer sees the hub online, down is not listening and its peers unknown", async (t) => {
  await withLab(t, "st", {}, async (lab) => {
    const get = await lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]);
    assert.match(get.stdout, /Hello from the Pi/, get.stderr);

    // The peer (no agent, no peer.json) shows its own view: the hub online, not itself offline.
    const peer = await lab.porthole("peer", ["status"]);
    assert.match(peer.stdout, /^peer rpi \(10\.8\.0\.2, wg0 up; set up with porthole apply/m, peer.stdout);
    assert.match(peer.stdout, /^hub: online$/m);
    assert.match(peer.stdout, /tcp\/80 → rpi:8080/);

    // Another spec, named by --spec or $PORTHOLE_SPEC, is the one status reads (as validate and apply do).
    const other = join(lab.world.dir, "other.yaml");
    await writeFile(
      other,
      specWith(lab, "nftables", "snat", ["{ name: elsewhere, port: 8088, peer: rpi, targetPort: 8080 }"]),
    );
    for (const [args, env] of [
      [["status", "--json", "--spec", other], {}],
      [["status", "--json"], { PORTHOLE_SPEC: other }],
    ] as const) {
      const r = await lab.porthole("hub", [...args], { env });
      const names = (JSON.parse(r.stdout) as { forwards: { name: string }[] }).forwards.map((f) => f.name);
      assert.deepEqual(names, ["share", "elsewhere"], `${args.join(" ")} ${JSON.stringify(env)}`);
    }

    // A change on a hub managed with `apply` (no daemon: the API runs in the CLI's process) keeps the
    // oneshot unit that re-applies the saved state at boot; it wrote the daemon's unit in its place.
    const unitFile = join(lab.world.hostRecord("hub").root, "etc/systemd/system/porthole-hub.service");
    assert.match(await readFile(unitFile, "utf8"), /^Type=oneshot$/m);
    await lab.porthole("hub", ["forward", "add", "--port", "8089", "--peer", "rpi", "--target-port", "8080"]);
    const unit = await readFile(unitFile, "utf8");
    assert.match(unit, /^Type=oneshot$/m, unit);
    assert.doesNotMatch(unit, /hub run/, unit);

    await lab.porthole("hub", ["down"]);
    const after = await lab.porthole("hub", ["status"]);
    assert.match(after.stdout, /wg0 DOWN: not listening/);
    assert.doesNotMatch(after.stdout, /listening on udp/);
    assert.match(
      after.stdout,
      /^ {2}rpi 10\.8\.0\.2: unknown \(wg0 is down: its handshakes cannot be read\)$/m,
    );
    // The JSON says unknown too: nothing of the peer could be read, so not "online: false, 0 bytes".
    const json = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout) as {
      hub: { up: boolean };
      peers: { name: string; online: boolean | null; rxBytes: number | null }[];
    };
    assert.equal(json.hub.up, false);
    assert.deepEqual(
      json.peers.map((p) => [p.name, p.online, p.rxBytes]),
      [["rpi", null, null]],
    );
    // The static peer's view with its interface gone: the hub unknown, in the text and the JSON.
    await lab.world.exec("peer", ["ip", "link", "del", "wg0"]);
    const peerDown = await lab.porthole("peer", ["status"]);
    assert.match(peerDown.stdout, /^hub: unknown \(wg0 is down: its handshakes cannot be read\)$/m);
    const peerJson = JSON.parse((await lab.porthole("peer", ["status", "--json"])).stdout) as {
      hub: { online: boolean | null };
    };
    assert.equal(peerJson.hub.online, null);
  });
});
