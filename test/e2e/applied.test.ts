// Hub status never says a forward works while its clients fail because the peer's side is not in step.
// The hub probes the share from its own tunnel address (10.8.0.1), which the peer accepts whatever it
// applied; clients come from hub.snatPool, which only the peer's apply lets in (the pool in its
// allowed IPs, a route into wg0). So: the pool changes on the hub while the peer's agent is stopped,
// then the agent's apply is refused (another route to the new pool), then it applies. Status says
// unknown (not working) while clients time out, and working once they are served; a later change to
// another forward of the peer leaves the share's judgement as it was.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { DAEMON_ENV } from "../../src/plan/daemon-env.ts";
import { type Lab, PORTHOLE, withJoinedLab } from "./lab-fixture.ts";

/** A pool outside the lab's 240.0.0.0/8: the peer's old allowed IPs and route do not cover it. */
const NEW_POOL = "100.100.0.0/16";

interface Fwd {
  name: string;
  probeOutcome?: string | null;
  working: boolean | null;
  peerSpec?: string;
}
interface Applied {
  state: string;
  note: string;
  lastError: { error: string } | null;
}

async function status(lab: Lab): Promise<{ share: Fwd; rpi: Applied | null | undefined; text: string }> {
  const json = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout) as {
    forwards: Fwd[];
    peers: { name: string; applied?: Applied | null }[];
  };
  const share = json.forwards.find((f) => f.name === "rpi-tcp-80");
  assert.ok(share, JSON.stringify(json.forwards));
  const text = (await lab.porthole("hub", ["status"])).stdout;
  return { share, rpi: json.peers.find((p) => p.name === WEBDAV.peer)?.applied, text };
}

/** Status once `ok` holds of it (each status probes; a few seconds for the agent's tick and the hub's watch). */
async function statusWhen(lab: Lab, what: string, ok: (s: Awaited<ReturnType<typeof status>>) => boolean) {
  let s = await status(lab);
  for (let i = 0; i < 40 && !ok(s); i++) {
    await new Promise((r) => setTimeout(r, 500));
    s = await status(lab);
  }
  assert.ok(ok(s), `${what}:\n${s.text}\n${JSON.stringify(s.share)}`);
  return s;
}

const fetchShare = (lab: Lab) =>
  lab.curl(["-u", `${WEBDAV.user}:${WEBDAV.pass}`, "-m", "4", `http://${LAB.hubPublic}/hello.txt`]);

const workingLine = (text: string) => /^ {2}rpi-tcp-80 .*\n.*working: (.*)$/m.exec(text)?.[1] ?? text;

test("hub status: unknown, not working, while the peer's agent has not applied the spec (stopped, then refused); working once it has", async (t) => {
  await withJoinedLab(t, "ap", {}, async (lab) => {
    const s0 = await statusWhen(lab, "the share works after expose", (s) => s.share.working === true);
    assert.equal(s0.rpi?.state, "current");
    assert.match(s0.text, /^ {4}spec: in step: rpi applied this spec \([0-9a-f]{8}\) at /m);
    assert.match((await fetchShare(lab)).stdout, /Hello from the Pi/);

    // The peer's agent stops; the hub's pool changes (the hub's daemon applies its side at once).
    const agent = lab.world.running().find((p) => p.host === "peer" && p.argv.join(" ").endsWith("peer run"));
    assert.ok(agent, "the peer's agent runs");
    await lab.world.stop(agent.pid);
    const specFile = join(lab.world.hostRecord("hub").configDir, "porthole.yaml");
    const spec = await readFile(specFile, "utf8");
    assert.match(spec, /^ {2}snatPool: 240\.0\.0\.0\/8$/m);
    await writeFile(specFile, spec.replace(/^( {2}snatPool:) .*$/m, `$1 ${NEW_POOL}`));

    const behind = await statusWhen(lab, "the peer is behind", (s) => s.rpi?.state === "behind");
    // The hub's own probe is still accepted (from 10.8.0.1), and yet it is not "working".
    assert.equal(behind.share.probeOutcome, "accepted");
    assert.equal(behind.share.working, null);
    assert.match(
      behind.share.peerSpec ?? "",
      /^rpi has not applied this spec \([0-9a-f]{8}\): it applied [0-9a-f]{8} at /,
    );
    assert.match(
      workingLine(behind.text),
      /^unknown, rpi has not applied this spec .*porthole doctor, and the agent's log .*\(the hub's own probe was accepted, but clients come through what rpi's apply sets up\)$/,
    );
    // And rightly: once the hub's watch applied the new pool (within its 2 s round), a client's
    // connection comes from it, and the peer drops it.
    for (let i = 0; i < 40; i++) {
      const nft = await lab.world.exec("hub", ["nft", "list", "table", "inet", "porthole"]);
      if (nft.stdout.includes("100.100.0.0")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const failed = await fetchShare(lab);
    assert.notEqual(failed.code, 0, `the client must fail while the peer is behind: ${failed.stdout}`);
    const doctor = await lab.porthole("hub", ["doctor"], { allowFail: true });
    assert.match(doctor.stdout, /^\?\? +applied +rpi: rpi has not applied this spec/m);
    assert.match(doctor.stdout, /^\?\? +forwards +rpi-tcp-80 .*but that says nothing of its clients/m);

    // Another route to the new pool on the peer: its agent's apply is refused, and it says so.
    await lab.world.exec("peer", ["ip", "route", "add", "blackhole", NEW_POOL]);
    await lab.world.spawn("peer", [...PORTHOLE, "peer", "run"], { label: "peer-agent", env: DAEMON_ENV });
    const refused = await statusWhen(lab, "the peer's apply failed", (s) => s.rpi?.state === "failed");
    assert.equal(refused.share.working, null);
    assert.match(
      refused.rpi?.lastError?.error ?? "",
      /another route to 100\.100\.0\.0\/16 is on this machine/,
    );
    // One line, the kernel's error and the rollback included, ending with what the probe means.
    assert.match(
      workingLine(refused.text),
      /^unknown, rpi's apply of this spec failed at .*another route to 100\.100\.0\.0\/16 .*; the host was put back as it was before this apply \(it runs what it applied before: [0-9a-f]{8} at .*\(the hub's own probe was accepted, but clients come through what rpi's apply sets up\)$/,
    );
    assert.notEqual((await fetchShare(lab)).code, 0, "the client still fails");

    // The route goes: the agent tries again (a failed apply every 5 ticks), applies, and reports it.
    await lab.world.exec("peer", ["ip", "route", "del", "blackhole", NEW_POOL]);
    const fixed = await statusWhen(lab, "the peer applied", (s) => s.share.working === true);
    assert.equal(fixed.rpi?.state, "current");
    assert.match(workingLine(fixed.text), /^yes \(the target accepts connections from the hub/);
    assert.match((await fetchShare(lab)).stdout, /Hello from the Pi/, "and the client is served");

    // The agent stops again and rpi gets a second forward: the share, the same in the spec rpi runs,
    // keeps "yes" (and its clients are served); only the new forward waits for rpi's apply.
    const again = lab.world.running().find((p) => p.host === "peer" && p.argv.join(" ").endsWith("peer run"));
    assert.ok(again, "the peer's agent runs");
    await lab.world.stop(again.pid);
    await lab.porthole("hub", [
      "forward",
      "add",
      "--port",
      "81",
      "--peer",
      WEBDAV.peer,
      "--target-port",
      "8081",
    ]);
    const more = await statusWhen(lab, "the peer is behind", (s) => s.rpi?.state === "behind");
    assert.equal(more.share.working, true, JSON.stringify(more.share));
    assert.equal(more.share.peerSpec, undefined);
    const json = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout) as { forwards: Fwd[] };
    const added = json.forwards.find((f) => f.name !== "rpi-tcp-80");
    assert.match(added?.peerSpec ?? "", /^rpi has not applied this spec/, JSON.stringify(added));
    assert.match((await fetchShare(lab)).stdout, /Hello from the Pi/, "the share's clients are served");
  });
});

test("a peer removed and added again by hand under its name (a new key): the old machine's report is not the new one's", async (t) => {
  await withJoinedLab(t, "ak", {}, async (lab) => {
    const before = await statusWhen(lab, "the peer applied", (s) => s.rpi?.state === "current");
    assert.equal(before.share.probeOutcome, "accepted");
    // Another machine under the name: rpi's key replaced in the hub's spec by hand. The old machine's
    // agent still runs: it fetches the edited spec, fails to apply it (not its key) and says so.
    const specPath = join(lab.world.hostRecord("hub").configDir, "porthole.yaml");
    const text = await readFile(specPath, "utf8");
    const old = /^ {4}publicKey: "?([A-Za-z0-9+/=]{44})"?$/m.exec(text.slice(text.indexOf("peers:")))?.[1];
    assert.ok(old, text);
    const fresh = (await lab.porthole("hub", ["keygen"])).stdout.trim();
    const key = (await lab.world.exec("hub", [...PORTHOLE, "pubkey"], { input: `${fresh}\n` })).stdout.trim();
    await writeFile(specPath, text.replace(old, key));
    const after = await statusWhen(lab, "the new key has no records", (s) => s.rpi?.state === "silent");
    assert.match(after.rpi?.note ?? "", /^rpi's agent has not been heard since the hub started/);
    assert.equal(after.rpi?.lastError, null, "the old machine's failed apply is not the new one's");
    assert.doesNotMatch(after.text, /belongs to public key/);
    // Still so once the old machine's agent has ticked a few more times (its packets no longer pass).
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal((await status(lab)).rpi?.state, "silent");
  });
});
