// The blog post's system, built by `porthole lab`: WebDAV on the Pi, reached from the internet
// through the hub, with either firewall backend.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { withLab } from "./lab-fixture.ts";

const url = (path: string) => `http://${LAB.hubPublic}/${path}`;
const auth = `${WEBDAV.user}:${WEBDAV.pass}`;

for (const backend of ["nftables", "iptables"] as const) {
  test(`seed: WebDAV GET and PUT through the hub reach rclone on the peer (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "sn" : "si", { backend }, async (lab) => {
      const get = await lab.curl(["-u", auth, url("hello.txt")]);
      assert.equal(get.stdout, "Hello from the Pi, through the hub.\n", get.stderr);

      const put2 = await lab.curl([
        ...["-u", auth, "--data-binary", "photos", "-X", "PUT", url("album.txt")],
        ...["-o", "/dev/null", "-w", "%{http_code}"],
      ]);
      assert.match(put2.stdout, /^20[14]$/, put2.stderr);
      assert.equal(await readFile(join(lab.world.dir, "share", "album.txt"), "utf8"), "photos");
      const back = await lab.curl(["-u", auth, url("album.txt")]);
      assert.equal(back.stdout, "photos");

      const wrong = await lab.curl([
        "-u",
        `${WEBDAV.user}:wrong`,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        url("hello.txt"),
      ]);
      assert.equal(wrong.stdout, "401", "rclone, not the relay, refuses a wrong password");

      const again = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.equal(again.stdout.trim(), "hub: no changes");
    });
  });
}
