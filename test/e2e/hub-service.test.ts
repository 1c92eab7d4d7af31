// A service on the hub itself listens on a public port (issue 8 §5): a peer cannot forward that port
// over it, an admin only when forcing it, and the service keeps answering the internet until then.
// The hub's `forward add` probes the new target through the tunnel and warns when nothing accepts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { waitFor } from "../../src/lab/procs.ts";
import { LAB } from "../../src/lab/topology.ts";
import { onPeer, SUPPORT, startWhoami, withJoinedLab } from "./lab-fixture.ts";

test("a port a hub service listens on: a peer's expose is refused naming it; an admin must force it", async (t) => {
  await withJoinedLab(t, "hs", {}, async (lab) => {
    // The hub's own service (the test server, which answers with the client's address and its port).
    await lab.world.spawn("hub", [process.execPath, join(SUPPORT, "whoami.mjs"), "tcp:8443"], {
      label: "hub-service",
    });
    const fromInternet = () => lab.curl([`http://${LAB.hubPublic}:8443/`]);
    await waitFor("the hub's service", async () => ((await fromInternet()).code === 0 ? true : undefined));
    await startWhoami(lab, ["tcp:9443"]);

    const peer = await lab.porthole("peer", ["expose", "8443", "--to", "9443"], { allowFail: true });
    assert.equal(peer.code, 1, "a refusal (README, exit codes)");
    // Named by the argument the user typed (PUBLIC), not the spec's field.
    assert.match(
      peer.stderr,
      /^porthole: PUBLIC: tcp\/8443 is in use by a service on the hub; a forward would cut that service off from the internet\. pick another public port \(only an admin can force a forward over a service of the hub\)/,
    );
    // What the hub runs there, its pid and address are not a peer's business (an admin is told).
    assert.doesNotMatch(peer.stderr, /node|pid|0\.0\.0\.0/);
    const forced = await lab.porthole("peer", ["expose", "8443", "--to", "9443", "--shadow-hub-service"], {
      allowFail: true,
    });
    assert.match(forced.stderr, /only an admin may forward a port that a service on the hub uses/);
    assert.equal((await fromInternet()).stdout, `${LAB.client} 8443\n`, "the hub's service still answers");
    assert.doesNotMatch((await lab.porthole("hub", ["forward", "ls"])).stdout, /8443/);

    const add = ["forward", "add", "--port", "8443", "--peer", "rpi", "--target-port", "9443"];
    const admin = await lab.porthole("hub", add, { allowFail: true });
    assert.notEqual(admin.code, 0);
    assert.match(
      admin.stderr,
      /tcp\/8443 is in use on the hub: node \(pid \d+\) listens on 0\.0\.0\.0:8443; .*force it: --shadow-hub-service/,
    );
    assert.equal((await fromInternet()).stdout, `${LAB.client} 8443\n`);

    const forcedAdd = await lab.porthole("hub", [...add, "--shadow-hub-service"]);
    assert.equal(
      (await fromInternet()).stdout,
      `${onPeer()} 9443\n`,
      "forced: the forward took the port over",
    );
    assert.match(
      forcedAdd.stdout,
      /^ {2}checked from the hub: 10\.8\.0\.2:9443 accepts connections from the hub$/m,
    );
    assert.equal(forcedAdd.stderr, "");

    // Nothing on the target: applied all the same (exit 0), with the hub's probe said as a warning.
    const none = await lab.porthole("hub", [
      "forward",
      "add",
      "--port",
      "8444",
      "--peer",
      "rpi",
      "--target-port",
      "9444",
    ]);
    assert.match(none.stdout, /^\+ forward rpi-tcp-8444: tcp\/8444 → rpi:9444 \(snat\)$/m);
    assert.match(
      none.stderr,
      /^warning: nothing accepted a connection on rpi:9444 from the hub: 10\.8\.0\.2:9444 refused the hub's connection: rpi is reached; nothing accepts on 10\.8\.0\.2:9444 \(or a firewall there rejects it\)\n {2}the forward is in place/m,
    );
    // A firewall on the peer dropping the target: a timeout, told from the tunnel by what the hub received.
    await lab.world.exec("peer", ["nft", "-f", "-"], {
      input:
        "table inet hs_drop {\n  chain input {\n    type filter hook input priority -10\n    tcp dport 9443 drop\n  }\n}\n",
    });
    const dropped = await lab.porthole("hub", [
      "forward",
      "add",
      "--port",
      "8445",
      "--peer",
      "rpi",
      "--target-port",
      "9443",
    ]);
    assert.match(
      dropped.stderr,
      /^warning: nothing accepted a connection on rpi:9443 from the hub: 10\.8\.0\.2:9443 did not answer the hub's connection \(timed out\): rpi sent packets \d+ seconds? ago, so the tunnel carries them and a firewall on rpi \(or past it\) dropping tcp\/9443 is likelier$/m,
    );
    await lab.world.exec("peer", ["nft", "delete", "table", "inet", "hs_drop"]);
    const udp = await lab.porthole("hub", [
      "forward",
      "add",
      "--port",
      "8446",
      "--peer",
      "rpi",
      "--proto",
      "udp",
    ]);
    assert.equal(udp.stderr, "not checked whether anything answers on rpi:8446: UDP is not probed\n");
  });
});
