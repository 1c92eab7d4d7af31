// `hub init` is all or nothing: when its apply fails (here: the WireGuard implementation cannot start),
// the host is left as before — no tunnel, no rules, no spec, no runtime file — so the same command
// works once the cause is fixed, instead of "porthole.yaml exists already: this hub is initialized".
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
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
    assert.equal(typo.code, 2, typo.stdout + typo.stderr);
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

    // Run as a shell runs `porthole hub init … && sleep 60`: one process group, which a Ctrl-C signals
    // whole. The tunnel outlives the Ctrl-C (wireguard-go used to be in that group and stopped with it).
    const job = await world.spawn(
      "hub",
      ["sh", "-c", '"$@" && echo "job: init done" && exec sleep 60', "sh", ...PORTHOLE, ...init],
      { label: "init-job" },
    );
    const log = async () => readFile(job.log, "utf8");
    for (let i = 0; i < 600 && !(await log()).includes("job: init done"); i++) await sleep(100);
    assert.match(await log(), /hub "hub" initialized: \d+ changes applied/);
    process.kill(-job.pid, "SIGINT");
    for (let i = 0; i < 50 && existsSync(`/proc/${job.pid}`); i++) await sleep(100);
    await sleep(500); // wireguard-go removes its interface as it stops: give it the time to
    const wg = await world.exec("hub", ["wg", "show", "wg0", "listen-port"], { allowFail: true });
    assert.equal(wg.code, 0, `wg0 went with the Ctrl-C of the job that ran hub init: ${wg.stderr}`);
    assert.equal(wg.stdout.trim(), "51820");
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
