// `hub init` is all or nothing: when its apply fails (here: the WireGuard implementation cannot start),
// the host is left as before — no tunnel, no rules, no spec, no runtime file — so the same command
// works once the cause is fixed, instead of "porthole.yaml exists already: this hub is initialized".
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { createWorld } from "../../src/lab/create.ts";
import { destroyWorld } from "../../src/lab/teardown.ts";
import { LAB } from "../../src/lab/topology.ts";
import { PORTHOLE, requireLab, uniqueName } from "./lab-fixture.ts";

test("hub init whose apply fails leaves nothing behind; run again once fixed, it initializes the hub", async (t) => {
  if (!requireLab(t)) return;
  const name = uniqueName("hi");
  try {
    const world = await createWorld(name);
    const { configDir, stateDir } = world.hostRecord("hub");
    const init = ["hub", "init", "--endpoint", LAB.hubPublic, "--public-interface", "ens3"];
    // A public interface that is not on this host (eth0 where the VPS has ens3) would match no packet.
    const typo = await world.exec("hub", [...PORTHOLE, ...init.slice(0, -1), "eth0"], { allowFail: true });
    assert.equal(typo.code, 1, typo.stdout + typo.stderr);
    assert.match(
      typo.stderr,
      /--public-interface: "eth0" is not an interface of this host; interfaces with an address here: .*ens3/,
    );
    assert.equal(existsSync(configDir) ? readdirSync(configDir).length : 0, 0, "nothing written");
    const failed = await world.exec("hub", [...PORTHOLE, ...init], {
      allowFail: true,
      env: { PORTHOLE_WG_USERSPACE: "/bin/false" },
    });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /hub init failed, nothing was set up \(the key .*private\.key is kept/);
    assert.equal((await world.exec("hub", ["ip", "link", "show", "wg0"], { allowFail: true })).code, 1);
    const table = await world.exec("hub", ["nft", "list", "table", "inet", "porthole"], { allowFail: true });
    assert.notEqual(table.code, 0, "no nftables table");
    assert.deepEqual(readdirSync(configDir), ["private.key"], "only the key, kept for the next try");
    for (const f of ["hub-runtime.json", "applied.json", "applying.json"])
      assert.equal(existsSync(`${stateDir}/${f}`), false, `${f} is not left in the state directory`);

    const ok = await world.exec("hub", [...PORTHOLE, ...init]);
    assert.match(ok.stdout, /hub "hub" initialized: \d+ changes applied/);
    assert.equal((await world.exec("hub", ["ip", "link", "show", "wg0"], { allowFail: true })).code, 0);
    await world.exec("hub", [...PORTHOLE, "down"]);
    // down keeps the key and spec: init again names the way back, not "this hub is initialized".
    const again = await world.exec("hub", [...PORTHOLE, ...init], { allowFail: true });
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(
      again.stderr,
      /nothing of it is applied on this host .*`porthole apply` brings this hub back/,
    );
    const back = await world.exec("hub", [...PORTHOLE, "apply"]);
    assert.match(back.stdout, /hub: applied \d+ changes, verified/);
    assert.equal((await world.exec("hub", ["ip", "link", "show", "wg0"], { allowFail: true })).code, 0);
    await world.exec("hub", [...PORTHOLE, "down"]);
  } finally {
    await destroyWorld(name);
  }
});
