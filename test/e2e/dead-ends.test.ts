// No dead ends (issue 9 §1, §2): `down` works from the states porthole leaves a real host in — a
// transparent peer whose rp_filter key goes away with wg0, its agent still running — and the daemons
// stand down instead of bringing back what `down` removed; a second hub daemon refuses at once; an
// expose run again says what is in place instead of a clash with its own forward; a hand-broken spec
// file, which makes the hub refuse every change, fails doctor.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { PORTHOLE, withJoinedLab } from "./lab-fixture.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("down on a transparent peer with its agent running: exit 0, the agent stands down, wg0 stays gone", async (t) => {
  await withJoinedLab(t, "de1", { mode: "transparent" }, async (lab) => {
    const agents = () => lab.world.running().filter((p) => p.host === "peer" && p.argv.includes("run"));
    assert.equal(agents().length, 1, "the lab runs the peer agent");
    const hasWg0 = async (host: "hub" | "peer") =>
      (await lab.world.exec(host, ["ip", "link", "show", "wg0"], { allowFail: true })).code === 0;
    assert.ok(await hasWg0("peer"));

    // Tokens: listed while pending (with expiry), revoked by peer rm, read from a file by join.
    const tokenFor = async (name: string) =>
      /porthole join (\S+)/.exec((await lab.porthole("hub", ["peer", "add", name])).stdout)?.[1] ?? "";
    await tokenFor("nas");
    const pending = await lab.porthole("hub", ["peer", "ls"]);
    assert.match(pending.stdout, /^NAME +ADDRESS +STATE +KIND$/m);
    assert.match(pending.stdout, /^nas +- +join token pending, expires \d{4}-\d\d-\d\dT/m);
    const revoked = await lab.porthole("hub", ["peer", "rm", "nas"]);
    assert.match(revoked.stdout, /revoked the pending join token for "nas"/);
    assert.doesNotMatch((await lab.porthole("hub", ["peer", "ls"])).stdout, /^nas /m);
    const tokenFile = `/tmp/${lab.world.name}-nas-token`;
    await lab.world.exec("home", ["sh", "-c", `umask 077; cat > ${tokenFile}`], {
      input: await tokenFor("nas"),
    });
    const joined = await lab.world.exec("home", [...PORTHOLE, "join", "--token-file", tokenFile]);
    assert.match(joined.stdout, /joined as "nas"/);
    assert.match((await lab.porthole("hub", ["peer", "ls"])).stdout, /^nas +10\.8\.0\.\d+ /m);
    await lab.world.exec("home", [...PORTHOLE, "down"]);
    await lab.world.exec("home", ["rm", "-f", tokenFile]);

    const r = await lab.porthole("peer", ["down"], { allowFail: true });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^- stopped the peer agent \(pid \d+\)$/m);
    assert.match(r.stdout, /^- interface wg0$/m);
    assert.match(r.stdout, /^- left hub http:\/\/10\.8\.0\.1:51821 as "rpi"/m);
    assert.doesNotMatch(r.stderr, /ENOENT|rp_filter/);
    assert.equal(agents().length, 0, "the agent is gone");
    await sleep(5000); // two and a half agent ticks: nothing brings wg0 back
    assert.equal(await hasWg0("peer"), false, "wg0 came back after down");
    const ip = await lab.world.exec("peer", ["ip", "rule", "show"]);
    assert.doesNotMatch(ip.stdout, /fwmark 0x5180/, "policy routing left behind");

    const again = await lab.porthole("peer", ["down"], { allowFail: true });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), "nothing of porthole's is on this host");
  });
});

test("a second hub daemon refuses at once; down on the hub stops the daemon so it repairs nothing", async (t) => {
  await withJoinedLab(t, "de2", {}, async (lab) => {
    const started = Date.now();
    const second = await lab.porthole("hub", ["hub", "run"], { allowFail: true });
    assert.ok(Date.now() - started < 10_000, "the second daemon hung");
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(second.stderr, /the hub daemon is already running, pid (\d+).*; stop it first: `kill \1`/);
    // `porthole down` stops it too, but removes everything (and on a peer leaves the hub): not the advice.
    assert.doesNotMatch(second.stderr, /porthole down/);

    // expose run again (the lab exposed 80 to 8080): the same is in place, exit 0; another target
    // names the forward to unexpose first, not the auto-made name as a clash.
    const same = await lab.porthole("peer", ["expose", "80", "--to", "8080"], { allowFail: true });
    assert.equal(same.code, 0, same.stderr);
    assert.match(
      same.stdout,
      /^tcp\/80 is already forwarded to rpi:8080 \(snat; forward "rpi-tcp-80"\): nothing changed/m,
    );
    const other = await lab.porthole("peer", ["expose", "80", "--to", "9090"], { allowFail: true });
    assert.equal(other.code, 1, other.stdout);
    assert.match(
      other.stderr,
      /tcp\/80 is already forwarded to rpi:8080 \(snat; forward "rpi-tcp-80"\); one forward per public port: to change it, `porthole unexpose rpi-tcp-80`, then run this expose again/,
    );
    assert.doesNotMatch(other.stderr, /name: "rpi-tcp-80" is already used/);

    // A hand edit breaks the spec file: the hub refuses every change; doctor names it (it said ok).
    const specPath = join(lab.world.hostRecord("hub").configDir, "porthole.yaml");
    const good = await readFile(specPath, "utf8");
    await writeFile(specPath, good.replace("targetPort: 8080", "targetPort: 80800"));
    const broken = await lab.porthole("hub", ["doctor"], { allowFail: true });
    assert.equal(broken.code, 4, broken.stdout);
    assert.match(
      broken.stdout,
      /^FAIL spec +the hub runs on its last valid spec and refuses every change \(peer add, join, expose\): \S+porthole\.yaml:\d+:\d+ forwards\[0\]\.targetPort: 80800 is out of range/m,
    );
    assert.match(
      broken.stdout,
      /^ +fix: correct it at the line:column named \(`porthole validate --spec \S+porthole\.yaml` lists every problem\)/m,
    );
    await writeFile(specPath, good);
    assert.match(
      (await lab.porthole("hub", ["doctor"], { allowFail: true })).stdout,
      /^ok +spec +the spec file has no errors$/m,
    );

    // A forward named like a port: refused when made; one written by hand (before the rule) is found
    // by `unexpose` by its name when no forward is on that port (ports first, then names).
    const digits = await lab.porthole("peer", ["expose", "81", "--to", "8081", "--name", "8080"], {
      allowFail: true,
    });
    assert.equal(digits.code, 2, digits.stderr);
    assert.match(digits.stderr, /^porthole: --name: "8080" reads as a port/m);
    assert.ok(good.includes("name: rpi-tcp-80"), good);
    await writeFile(specPath, good.replace("name: rpi-tcp-80", 'name: "8080"'));
    await lab.porthole("hub", ["apply"]);
    const gone = await lab.porthole("peer", ["unexpose", "8080"]);
    assert.match(gone.stdout, /^- tcp\/80 → rpi:8080 \(forward "8080"\)$/m);
    assert.doesNotMatch((await lab.porthole("hub", ["forward", "ls"])).stdout, /tcp\/80\b/);
    // The first daemon still serves (its socket was not taken away), and status says it runs.
    const running = await lab.porthole("hub", ["status"]);
    assert.match(running.stdout, /^daemon: running \(pid \d+, up \d+ seconds?\)$/m);

    // The daemon stops: every command that needs it says so, and what to run.
    const daemon = lab.world.running().find((p) => p.host === "hub" && p.argv.includes("run"));
    assert.ok(daemon);
    await lab.world.stop(daemon.pid);
    const stopped = await lab.porthole("hub", ["status"]);
    assert.match(stopped.stdout, /^daemon: NOT running — start it with `systemctl start porthole-hub`/m);
    const json = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout);
    assert.equal(json.daemon.running, false);
    // Exit 3 on both sides: the hub daemon did not answer (src/cli/errors.ts).
    const add = await lab.porthole("hub", ["peer", "add", "nas"], { allowFail: true });
    assert.equal(add.code, 3);
    assert.match(add.stderr, /the hub daemon is not running — start it with/);
    assert.doesNotMatch(add.stdout, /porthole join/);
    const expose = await lab.porthole("peer", ["expose", "81", "--to", "8081"], { allowFail: true });
    assert.equal(expose.code, 3, expose.stderr);
    assert.match(expose.stderr, /the hub daemon is not running|its daemon may be down/);
    assert.doesNotMatch(expose.stderr, /^porthole: [^\n]*ECONNREFUSED$/m);
    // The peer's status falls back on what it sees: a fresh handshake, said as such, not "online".
    const peerStatus = await lab.porthole("peer", ["status"], { allowFail: true });
    assert.equal(peerStatus.code, 3, peerStatus.stderr);
    assert.doesNotMatch(peerStatus.stdout, /online/);
    assert.match(
      peerStatus.stdout,
      /^hub: not reached: its API did not answer \(why: below\)\n {2}WireGuard: latest handshake: \d+ seconds? ago; endpoint: 203\.0\.113\.1:51820 \(the tunnel worked then; that does not say the hub's API works\)$/m,
    );
    assert.match(peerStatus.stderr, /the hub daemon is not running/);
    // Every change on the hub refuses alike: applied in this process it would bring back, outside the
    // unit, what stopping the unit took down. Nothing is written; `apply` still applies, and says so.
    const specBefore = await readFile(specPath, "utf8");
    for (const args of [
      ["forward", "add", "--port", "81", "--peer", "rpi", "--target-port", "8081"],
      ["forward", "rm", "rpi-tcp-80"],
      ["peer", "rm", "rpi"],
      ["peer", "add", "phone", "--device"],
    ]) {
      const r = await lab.porthole("hub", args, { allowFail: true });
      assert.equal(r.code, 3, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /^porthole: the hub daemon is not running — start it with `systemctl start porthole-hub`.*; nothing was changed \(this hub was set up with `hub init`: its changes go through its daemon; to apply a spec edited by hand without it: `porthole apply`\)$/m,
      );
    }
    assert.equal(await readFile(specPath, "utf8"), specBefore);
    const applied = await lab.porthole("hub", ["apply"]);
    assert.match(applied.stdout, /^hub: (no changes|applied \d+ changes?, verified)$/m);
    assert.match(applied.stderr, /^porthole: the hub daemon is not running: this apply is all that happens/m);

    await lab.world.spawn("hub", [...PORTHOLE, "hub", "run"], { label: "hub-daemon-2" });
    for (let i = 0; i < 100; i++) {
      const st = await lab.porthole("hub", ["status", "--json"], { allowFail: true });
      if (st.code === 0 && JSON.parse(st.stdout).daemon.listening) break;
      await sleep(200);
    }

    const down = await lab.porthole("hub", ["down"], { allowFail: true });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /^- stopped the hub daemon \(pid \d+\)$/m);
    await sleep(5000); // the daemon's drift repair runs every 2 s
    const wg = await lab.world.exec("hub", ["ip", "link", "show", "wg0"], { allowFail: true });
    assert.notEqual(wg.code, 0, "wg0 came back on the hub after down");
  });
});
