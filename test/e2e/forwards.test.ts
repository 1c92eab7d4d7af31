// What the hub lets through, and what a target sees: modes, UDP, ranges, strictness, allow-lists.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LAB } from "../../src/lab/topology.ts";
import { onPeer, specWith, startWhoami, udpAsk, withLab } from "./lab-fixture.ts";

for (const backend of ["nftables", "iptables"] as const) {
  test(`transparent mode shows the client's address; snat shows the hub's (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "mn" : "mi", { backend }, async (lab) => {
      await startWhoami(lab, ["tcp:9000", "tcp:9001"]);
      await lab.writeSpec(
        specWith(lab, backend, "snat", [
          "{ name: plain, port: 8000, peer: rpi, targetPort: 9000 }",
          "{ name: clear, port: 8001, peer: rpi, targetPort: 9001, mode: transparent }",
        ]),
      );
      await lab.applyBoth();
      const snat = await lab.curl([`http://${LAB.hubPublic}:8000/`]);
      assert.equal(snat.stdout, `${onPeer()} 9000\n`, snat.stderr);
      const clear = await lab.curl([`http://${LAB.hubPublic}:8001/`]);
      assert.equal(clear.stdout, `${LAB.client} 9001\n`, clear.stderr);
      const other = await lab.curl([`http://${LAB.hubPublic}:8001/`], LAB.client2);
      assert.equal(other.stdout, `${LAB.client2} 9001\n`, other.stderr);
      // The peer's own route to the internet is untouched: it still reaches the client directly.
      const direct = await lab.world.exec("peer", ["ip", "route", "get", LAB.client]);
      assert.doesNotMatch(direct.stdout, /dev wg0/);
    });
  });
}

test("UDP forwards, a port range mapped 1:1, and tcp+udp on one port", async (t) => {
  await withLab(t, "ud", {}, async (lab) => {
    await startWhoami(lab, ["udp:7000", "udp:7001", "udp:7002", "tcp:5353", "udp:5353"]);
    await lab.writeSpec(
      specWith(lab, "nftables", "snat", [
        "{ name: game, proto: udp, port: 6000-6002, peer: rpi, targetPort: 7000-7002 }",
        "{ name: dns, proto: tcp+udp, port: 53, peer: rpi, targetPort: 5353 }",
      ]),
    );
    await lab.applyBoth();
    for (const [pub, target] of [
      [6000, 7000],
      [6001, 7001],
      [6002, 7002],
    ]) {
      const r = await udpAsk(lab, LAB.hubPublic, pub as number);
      assert.equal(r.stdout.trim(), `${onPeer()} ${target} ping`, `udp ${pub}`);
    }
    assert.equal((await udpAsk(lab, LAB.hubPublic, 6003)).stdout.trim(), "timeout");
    assert.equal((await udpAsk(lab, LAB.hubPublic, 53)).stdout.trim(), `${onPeer()} 5353 ping`);
    assert.equal((await lab.curl([`http://${LAB.hubPublic}:53/`])).stdout, `${onPeer()} 5353\n`);
  });
});

for (const backend of ["nftables", "iptables"] as const) {
  test(`only forwarded targets are reachable through the hub; allow-from drops others (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "xn" : "xi", { backend }, async (lab) => {
      await startWhoami(lab, ["tcp:9000", "tcp:9999"]);
      await lab.writeSpec(
        specWith(lab, backend, "snat", [
          `{ name: office, port: 8000, peer: rpi, targetPort: 9000, allowFrom: [${LAB.client}/32] }`,
        ]),
      );
      await lab.applyBoth();
      assert.equal((await lab.curl([`http://${LAB.hubPublic}:8000/`])).stdout, `${onPeer()} 9000\n`);
      const outsider = await lab.curl([`http://${LAB.hubPublic}:8000/`], LAB.client2);
      assert.notEqual(outsider.code, 0, "a client outside allowFrom is dropped");
      assert.equal(outsider.stdout, "");

      // An attacker on the hub's link routes the tunnel subnet at the hub: nothing gets in.
      await lab.world.exec("client", ["ip", "route", "add", "10.8.0.0/24", "via", LAB.hubPublic]);
      for (const target of ["10.8.0.2:9999", "10.8.0.2:9000", "10.8.0.2:8080"]) {
        const r = await lab.curl(["-m", "2", `http://${target}/`]);
        assert.notEqual(r.code, 0, `${target} must not be reachable from the internet`);
      }
      const unforwarded = await lab.curl(["-m", "2", `http://${LAB.hubPublic}:9999/`]);
      assert.notEqual(unforwarded.code, 0);
      // The tunnel itself still works for what is forwarded.
      assert.equal((await lab.curl([`http://${LAB.hubPublic}:8000/`])).stdout, `${onPeer()} 9000\n`);
    });
  });
}
