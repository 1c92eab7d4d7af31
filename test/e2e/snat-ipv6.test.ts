// IPv6 snat clients through the hub: each reaches the peer from its own address in the IPv6 part of
// the SNAT pool (the last 1/65536 of hub.subnet6, which the peer routes into the tunnel already), by
// the client's low 48 bits: 2001:db8:1::2 as fd00:8::ffff:0:0:2.
import assert from "node:assert/strict";
import { test } from "node:test";
import { specWith, startWhoami, withLab } from "./lab-fixture.ts";

const HUB6 = "2001:db8:1::1";
const CLIENTS6 = ["2001:db8:1::2", "2001:db8:1::3"];

for (const backend of ["nftables", "iptables"] as const) {
  test(`IPv6 snat clients reach the peer each from its own address in the pool (${backend})`, async (t) => {
    await withLab(t, `p6${backend[0]}`, { backend }, async (lab) => {
      // The internet's IPv6: the client and the hub share a link (no DAD: usable at once).
      await lab.world.exec("hub", ["ip", "-6", "address", "add", `${HUB6}/64`, "dev", "ens3", "nodad"]);
      for (const a of CLIENTS6)
        await lab.world.exec("client", ["ip", "-6", "address", "add", `${a}/64`, "dev", "to-hub", "nodad"]);
      await startWhoami(lab, ["tcp6:9006"]);
      const text = specWith(lab, backend, "snat", ["{ name: six, port: 8006, peer: rpi, targetPort: 9006 }"]);
      const dual = text.replace(/^( {2}snatPool: .*)$/m, "$1\n  subnet6: fd00:8::/64");
      assert.notEqual(dual, text, "the lab's spec has a snatPool line");
      await lab.writeSpec(dual);
      await lab.applyBoth();
      for (const client of CLIENTS6) {
        const r = await lab.world.exec(
          "client",
          ["curl", "-sS", "-m", "5", "-g", "--interface", client, `http://[${HUB6}]:8006/`],
          { allowFail: true },
        );
        const low = client.split("::")[1];
        assert.equal(r.stdout, `fd00:8::ffff:0:0:${low} 9006\n`, `${client}: ${r.stderr}`);
      }
    });
  });
}
