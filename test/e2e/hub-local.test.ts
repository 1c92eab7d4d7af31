// Clients on the hub itself (a monitoring probe, a container, a reverse proxy calling the public name)
// reach a forward through the hub's own public address, like clients on the internet do; the hub's
// tunnel address and loopback are not caught (issue 8 §2). Both backends, both modes, a named public
// interface and `auto`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { labSpec, WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, withLab } from "./lab-fixture.ts";

const HELLO = "Hello from the Pi, through the hub.\n";

const fromHub = (lab: Lab, url: string) =>
  lab.world.exec("hub", ["curl", "-sS", "-m", "5", "-u", `${WEBDAV.user}:${WEBDAV.pass}`, url], {
    allowFail: true,
  });

for (const backend of ["nftables", "iptables"] as const) {
  for (const mode of ["snat", "transparent"] as const) {
    test(`from the hub, curl of its own public address reaches the peer's share (${backend}, ${mode})`, async (t) => {
      const tag = `hl${backend[0]}${mode[0]}`;
      await withLab(t, tag, { backend, mode }, async (lab) => {
        for (const iface of ["ens3", "auto"]) {
          if (iface === "auto") {
            const spec = labSpec(lab.hubKey, lab.peerKey, { backend, mode });
            await lab.writeSpec(spec.replace("publicInterface: ens3", "publicInterface: auto"));
            await lab.porthole("hub", ["apply", "--host", "hub"]);
          }
          const local = await fromHub(lab, `http://${LAB.hubPublic}/hello.txt`);
          assert.equal(local.stdout, HELLO, `publicInterface ${iface}: ${local.stderr}`);
          // The internet still gets there too.
          const remote = await lab.curl([
            "-u",
            `${WEBDAV.user}:${WEBDAV.pass}`,
            `http://${LAB.hubPublic}/hello.txt`,
          ]);
          assert.equal(remote.stdout, HELLO, `publicInterface ${iface}: ${remote.stderr}`);
          // Port 80 of the hub's tunnel address and of loopback stay the hub's own: nothing listens there.
          for (const other of ["10.8.0.1", "127.0.0.1"]) {
            const r = await fromHub(lab, `http://${other}/hello.txt`);
            assert.equal(
              r.code,
              7,
              `${other}:80 is refused by the hub, not forwarded (${iface}): ${r.stdout}${r.stderr}`,
            );
          }
        }
      });
    });
  }
}
