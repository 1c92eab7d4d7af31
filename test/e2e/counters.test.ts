// What status and /metrics count, checked against the kernel: per forward (not per target), open
// connections without TIME_WAIT or closing ones (the ruleset marks them, status lists the marked ones
// alone), UDP flows, and counters that survive a reload of the ruleset.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, onPeer, specWith, startWhoami, udpAsk, withLab } from "./lab-fixture.ts";

interface Fwd {
  name: string;
  connectionsTotal: number;
  packets: number | null;
  bytes: number | null;
  establishedConnections: number | null;
}

async function forwards(lab: Lab): Promise<Record<string, Fwd>> {
  const r = await lab.porthole("hub", ["status", "--json"]);
  const s = JSON.parse(r.stdout) as { forwards: Fwd[] };
  return Object.fromEntries(s.forwards.map((f) => [f.name, f]));
}

const auth = `${WEBDAV.user}:${WEBDAV.pass}`;

for (const backend of ["nftables", "iptables"] as const) {
  test(`counters are per forward, open means established, and a reload keeps them (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "cn" : "ci", { backend }, async (lab) => {
      // Two forwards to the same target (rclone on rpi:8080): the lab's `share` on :80, and `side` on :8088.
      const spec = specWith(lab, backend, "snat", [
        "{ name: side, port: 8088, peer: rpi, targetPort: 8080 }",
        "{ name: game, proto: udp, port: 6000, peer: rpi, targetPort: 7000 }",
      ]);
      await lab.writeSpec(spec);
      await lab.applyBoth();
      for (let i = 0; i < 3; i++) {
        const r = await lab.curl(["-u", auth, `http://${LAB.hubPublic}/hello.txt`]);
        assert.match(r.stdout, /Hello from the Pi/, r.stderr);
      }
      // One connection held open: established. The three curls above are closed (TIME_WAIT) by now.
      // It asks every 3 s (keep-alive): rclone closes a connection that sends no request for 10 s,
      // and on a loaded machine the steps below take longer than that.
      const ask = `GET /hello.txt HTTP/1.1\\r\\nHost: hub\\r\\nAuthorization: Basic ${Buffer.from(auth).toString("base64")}\\r\\n\\r\\n`;
      const hold = await lab.world.spawn(
        "client",
        [
          process.execPath,
          "-e",
          `const s = require("net").connect(80, "${LAB.hubPublic}", () => { console.log("open"); s.write("${ask}"); setInterval(() => s.write("${ask}"), 3000); }); s.on("data", () => {}); s.on("end", () => console.log("closed by the server")); setTimeout(() => {}, 120000)`,
        ],
        { label: "hold" },
      );
      await new Promise((r) => setTimeout(r, 1000));
      // One UDP flow (answered): open while conntrack tracks it.
      await startWhoami(lab, ["udp:7000"]);
      assert.equal((await udpAsk(lab, LAB.hubPublic, 6000)).stdout.trim(), `${onPeer()} 7000 ping`);
      const before = await forwards(lab);
      const share = before.share as Fwd;
      const side = before.side as Fwd;
      assert.equal(share.connectionsTotal, 4, JSON.stringify(share));
      assert.equal(share.establishedConnections, 1, "TIME_WAIT is not open");
      assert.equal(side.connectionsTotal, 0, `side saw none of share's connections: ${JSON.stringify(side)}`);
      assert.equal(side.establishedConnections, 0);
      assert.equal((before.game as Fwd).establishedConnections, 1, JSON.stringify(before.game));
      if (backend === "nftables") {
        assert.ok((share.packets ?? 0) > 10 && (share.bytes ?? 0) > 1000, JSON.stringify(share));
        assert.equal(side.packets, 0, "side saw none of share's packets");
        assert.equal(side.bytes, 0);
      } else {
        // The iptables backend counts connections, not traffic, and says so.
        assert.equal(share.packets, null);
        const text = (await lab.porthole("hub", ["status"])).stdout;
        assert.match(text, /traffic: not counted \(iptables backend\)/);
      }

      // An unrelated change that reloads the whole ruleset (nftables: a chain changes; iptables: every
      // change reloads porthole's chains) leaves every counter where it was.
      await lab.writeSpec(
        backend === "nftables"
          ? spec.replace("firewall: nftables", "firewall: nftables\n  mesh: false")
          : `${spec}  - { name: extra, port: 9090, peer: rpi, targetPort: 9090 }\n`,
      );
      const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.match(applied.stdout, /applied/);
      const after = await forwards(lab);
      for (const name of ["share", "side"]) {
        const [b, a] = [before[name] as Fwd, after[name] as Fwd];
        assert.ok(
          a.connectionsTotal >= b.connectionsTotal,
          `${name}: ${b.connectionsTotal} -> ${a.connectionsTotal}`,
        );
        assert.ok((a.packets ?? 0) >= (b.packets ?? 0), `${name}: ${b.packets} -> ${a.packets} packets`);
        assert.ok((a.bytes ?? 0) >= (b.bytes ?? 0), `${name}: ${b.bytes} -> ${a.bytes} bytes`);
      }
      assert.equal((after.share as Fwd).establishedConnections, 1);

      // The held connection closes (its FIN crosses the hub): no longer open, while conntrack still
      // holds it (FIN_WAIT/TIME_WAIT).
      await lab.world.stop(hold.pid);
      await new Promise((r) => setTimeout(r, 500));
      const closed = await forwards(lab);
      assert.equal((closed.share as Fwd).establishedConnections, 0, "a closed connection is not open");
      const tracked = await lab.world.exec("hub", ["conntrack", "-L", "-p", "tcp", "--orig-port-dst", "80"]);
      assert.match(
        tracked.stdout,
        /TIME_WAIT|FIN_WAIT|CLOSE/,
        "conntrack still tracks the closed connection",
      );
    });
  });
}
