// A hub restarted the way its systemd unit does it (`hub run --down-on-stop`: the stop removes the
// tunnel, the start creates a new one) while its peer moved to another home address. The new
// WireGuard interface has no session and only the peer's old address; the peer's WireGuard would
// wait out 15 s of unanswered sends before a new handshake. The peer agent notices the silent hub
// and renews the session (src/peer/session.ts), so the share answers again within a few seconds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { changeHomeAddress } from "../../src/lab/renumber.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, PORTHOLE, withJoinedLab } from "./lab-fixture.ts";

const HELLO = "Hello from the Pi, through the hub.\n";
const share = (lab: Lab) =>
  lab.curl(["-m", "1", "-u", `${WEBDAV.user}:${WEBDAV.pass}`, `http://${LAB.hubPublic}/hello.txt`]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Well under WireGuard's own 15 s (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), with room for a loaded machine. */
const BOUND_MS = 9000;

test("the hub restarts while its peer moves: the share answers again within seconds, not WireGuard's 15 s", async (t) => {
  await withJoinedLab(t, "hr1", {}, async (lab) => {
    assert.equal((await share(lab)).stdout, HELLO);
    const endpoint = async () => {
      const st = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout);
      return st.peers.find((p: { name: string }) => p.name === WEBDAV.peer)?.endpoint as string;
    };
    assert.match(await endpoint(), /^198\.51\.100\.2:/);

    // systemctl stop: the daemon ends and takes the tunnel down (what --down-on-stop runs).
    const daemon = lab.world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
    assert.ok(daemon, "the lab runs the hub daemon");
    await lab.world.stop(daemon.pid);
    await lab.porthole("hub", ["down", "--keep-files"]);
    assert.notEqual((await share(lab)).stdout, HELLO, "nothing serves while the hub is stopped");
    // Meanwhile the home router gets a new address: the hub's saved endpoint for the peer is stale.
    await changeHomeAddress(lab.world, "198.51.100.3");
    await sleep(1000);

    // systemctl start.
    const started = Date.now();
    const again = await lab.world.spawn("hub", [...PORTHOLE, "hub", "run", "--down-on-stop"], {
      label: "hub-daemon",
    });
    let served = 0;
    while (Date.now() - started < 30_000) {
      if ((await share(lab)).stdout === HELLO) {
        served = Date.now() - started;
        break;
      }
      await sleep(100);
    }
    const agent = lab.world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
    t.diagnostic(`share answered ${served} ms after the hub's start (0: not within 30 s)`);
    assert.ok(
      served > 0 && served <= BOUND_MS,
      `served after ${served} ms; hub:\n${lab.world.logTail(again.log)}\npeer agent:\n${lab.world.logTail(agent?.log ?? "")}`,
    );
    assert.match(await endpoint(), /^198\.51\.100\.3:/, "the hub learnt where the peer is now");
    assert.match(
      lab.world.logTail(agent?.log ?? "", 40),
      /the hub sent nothing back through the tunnel: new WireGuard session with it/,
    );
  });
});
