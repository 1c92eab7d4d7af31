// A service in a Docker-like container behind the peer (published port: DNAT on the peer, masquerade
// out): the peer forwards the container's replies instead of generating them, and they must still go
// back through the tunnel in transparent mode.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { CONTAINER, startContainer } from "../../src/lab/container.ts";
import { waitFor } from "../../src/lab/procs.ts";
import { LAB } from "../../src/lab/topology.ts";
import { onPeer, SUPPORT, specWith, withLab } from "./lab-fixture.ts";

/** Another program's table on the peer: sets a mark bit of its own on the container's replies, and
 * counts replies leaving through the tunnel with both its bit and porthole's. */
const FOREIGN_MARKS = `table ip lab_other {
  chain pre {
    type filter hook prerouting priority -200; policy accept;
    ip saddr ${CONTAINER.address} meta mark set meta mark | 0x20000
  }
  chain post {
    type filter hook postrouting priority 0; policy accept;
    oifname "wg0" meta mark & 0x25180 == 0x25180 counter
  }
}
`;

for (const backend of ["nftables", "iptables"] as const) {
  test(`a container behind the peer: transparent and snat forwards reach it; transparent keeps the client's address (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "cn" : "ci", { backend }, async (lab) => {
      const whoami = [process.execPath, join(SUPPORT, "whoami.mjs"), "tcp:80"];
      const ctr = await startContainer(lab.world, "peer", whoami, [
        { proto: "tcp", hostPort: 9000, port: 80 },
        { proto: "tcp", hostPort: 9001, port: 80 },
      ]);
      await lab.writeSpec(
        specWith(lab, backend, "snat", [
          "{ name: plain, port: 8000, peer: rpi, targetPort: 9000 }",
          "{ name: clear, port: 8001, peer: rpi, targetPort: 9001, mode: transparent }",
        ]),
      );
      // The rule an older porthole left (unmasked fwmark) is replaced, not kept beside the new one.
      await lab.world.exec("peer", [
        "ip",
        "rule",
        "add",
        "fwmark",
        "0x5180",
        "lookup",
        "5180",
        "priority",
        "5180",
      ]);
      await lab.applyBoth();
      const rules = (await lab.world.exec("peer", ["ip", "rule", "show", "table", "5180"])).stdout;
      assert.equal(rules, "5180:\tfrom all fwmark 0x5180/0x5180 lookup 5180\n");
      await waitFor("the container's server", () => lab.world.logTail(ctr.process.log).includes("listening"));
      // Strict reverse-path filtering on the bridge, as many hosts have: forwarded replies carry
      // porthole's mark and must pass it anyway.
      await lab.world.exec("peer", ["sysctl", "-qw", `net.ipv4.conf.${CONTAINER.bridge}.rp_filter=1`]);
      await lab.world.exec("peer", ["nft", "-f", "-"], { input: FOREIGN_MARKS });

      const snat = await lab.curl([`http://${LAB.hubPublic}:8000/`]);
      assert.equal(snat.stdout, `${onPeer()} 80\n`, snat.stderr);
      const clear = await lab.curl([`http://${LAB.hubPublic}:8001/`]);
      assert.equal(clear.stdout, `${LAB.client} 80\n`, clear.stderr);
      const other = await lab.curl([`http://${LAB.hubPublic}:8001/`], LAB.client2);
      assert.equal(other.stdout, `${LAB.client2} 80\n`, other.stderr);

      // porthole set only its own bits: the other program's bit was still there when the replies left.
      const counted = await lab.world.exec("peer", ["nft", "list", "chain", "ip", "lab_other", "post"]);
      const packets = Number(/counter packets (\d+)/.exec(counted.stdout)?.[1]);
      assert.ok(packets > 0, counted.stdout);

      // The container's own traffic to the internet still leaves by the home router (masquerade), not
      // the tunnel; and porthole opened nothing in the peer's FORWARD chain.
      await lab.world.spawn("client", [process.execPath, join(SUPPORT, "whoami.mjs"), "tcp:7000"], {
        label: "whoami",
      });
      const out = await waitFor("the container to reach the client", async () => {
        const r = await ctr.exec(["curl", "-sS", "-m", "2", `http://${LAB.client}:7000/`], {
          allowFail: true,
        });
        return r.code === 0 ? r.stdout : undefined;
      });
      assert.equal(out, `${lab.world.homeWan} 7000\n`);
      const forward = await lab.world.exec("peer", ["iptables", "-S", "FORWARD"]);
      assert.doesNotMatch(forward.stdout, /porthole-pass/);
    });
  });
}
