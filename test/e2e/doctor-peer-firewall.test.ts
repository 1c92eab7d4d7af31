// `porthole doctor` on the peer judges the peer's own firewall for the packets real clients send: a rule
// admitting only the tunnel subnet on wg0 passes the local target connect (and the hub's probe from
// 10.8.0.1) but drops snat clients, who arrive from the hub's SNAT pool (240.0.0.0/8 in the lab).
import assert from "node:assert/strict";
import { test } from "node:test";
import { withJoinedLab } from "./lab-fixture.ts";

const RULE = ["INPUT", "-i", "wg0", "!", "-s", "10.8.0.0/24", "-p", "tcp", "--dport", "8080", "-j", "DROP"];

test("doctor on the peer: an INPUT rule admitting only the tunnel subnet fails naming the rule; removed, ok", async (t) => {
  await withJoinedLab(t, "pf", {}, async (lab) => {
    await lab.world.exec("peer", ["iptables", "-I", ...RULE]);
    try {
      const bad = await lab.porthole("peer", ["doctor"], { allowFail: true });
      assert.equal(bad.code, 4, bad.stdout + bad.stderr);
      assert.match(
        bad.stdout,
        /^FAIL +firewall rpi-tcp-80 tcp +tcp\/8080: this machine's firewall \(iptables-\S+ ip filter chain INPUT, rule `-A INPUT ! -s 10\.8\.0\.0\/24 -i wg0 -p tcp -m tcp --dport 8080 -j DROP`\) drops clients' packets, which arrive on wg0 from the hub's SNAT pool 240\.0\.0\.0\/8 \(240\.0\.0\.1\)$/m,
        bad.stdout,
      );
      assert.match(
        bad.stdout,
        /^ +fix: accept tcp\/8080 on wg0 from any source.*ufw allow in on wg0 to any port 8080 proto tcp/m,
      );
      // The local connect to the tunnel address never meets the rule: the target check still passes.
      assert.match(bad.stdout, /^ok +target rpi-tcp-80 tcp /m);
    } finally {
      await lab.world.exec("peer", ["iptables", "-D", ...RULE], { allowFail: true });
    }
    const ok = await lab.porthole("peer", ["doctor"], { allowFail: true });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      /^ok +firewall rpi-tcp-80 tcp +tcp\/8080: no input rule here drops a new connection on wg0 from the hub's SNAT pool 240\.0\.0\.0\/8 \(240\.0\.0\.1\)/m,
    );
  });
});
