// A peer whose tunnel broke while its handshake is still recent, in a real lab (wireguard-go, nft,
// namespaces): a cloud firewall starts dropping everything sent to the hub's WireGuard port. The hub's
// handshake with rpi reads "online" for up to 180 s more, but nothing arrives from rpi: `porthole
// doctor` on the hub says when the hub last received from rpi and fails the tunnel (not a firewall on
// rpi), and /metrics carries the same numbers and the target probe's outcome. Undone, both clear.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cloudFirewall } from "../../src/lab/faults.ts";
import { type Lab, withJoinedLab } from "./lab-fixture.ts";

interface Peer {
  name: string;
  online: boolean | null;
  handshakeAgeSeconds: number | null;
  receivedSecondsAgo?: number | null;
}
interface Fwd {
  name: string;
  probeOutcome?: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusJson(lab: Lab): Promise<{ rpi: Peer; share: Fwd }> {
  const s = JSON.parse((await lab.porthole("hub", ["status", "--json"])).stdout) as {
    peers: Peer[];
    forwards: Fwd[];
  };
  const rpi = s.peers.find((p) => p.name === "rpi");
  const share = s.forwards.find((f) => f.name === "rpi-tcp-80");
  assert.ok(rpi && share, JSON.stringify(s));
  return { rpi, share };
}

/** Polls the hub's status (every 2 s, at most `seconds`) until `ok` holds; returns that status. */
async function until(
  lab: Lab,
  seconds: number,
  what: string,
  ok: (s: { rpi: Peer; share: Fwd }) => boolean,
): Promise<{ rpi: Peer; share: Fwd }> {
  let s = await statusJson(lab);
  for (const end = Date.now() + seconds * 1000; !ok(s) && Date.now() < end; s = await statusJson(lab))
    await sleep(2000);
  assert.ok(ok(s), `${what}: ${JSON.stringify(s)}`);
  return s;
}

const metrics = async (lab: Lab) =>
  (await lab.world.exec("hub", ["curl", "-sS", "-m", "5", "http://127.0.0.1:9851/metrics"])).stdout;
const doctor = (lab: Lab) => lab.porthole("hub", ["doctor"], { allowFail: true });

test("a broken tunnel with a recent handshake: doctor and /metrics say the hub receives nothing from the peer", async (t) => {
  await withJoinedLab(t, "dr", {}, async (lab) => {
    // Healthy: the daemon has seen rpi's received bytes grow (its agent asks every 2 s).
    await until(lab, 30, "rpi received lately", (s) => (s.rpi.receivedSecondsAgo ?? 99) < 30);
    const healthy = await doctor(lab);
    assert.equal(healthy.code, 0, healthy.stdout);
    assert.match(
      healthy.stdout,
      /^ok +peers +rpi: online \(last handshake \d+ seconds? ago\); the hub last received from rpi \d+ seconds? ago$/m,
    );
    await until(lab, 10, "the share probed", (s) => s.share.probeOutcome === "accepted");
    const before = await metrics(lab);
    assert.match(before, /^porthole_peer_last_receive_age_seconds\{peer="rpi"\} ([0-9]|[12][0-9])$/m);
    assert.match(
      before,
      /^porthole_forward_probe_outcome\{forward="rpi-tcp-80",peer="rpi",outcome="accepted"\} 1$/m,
    );
    assert.doesNotMatch(before, /^porthole_forward_probe_outcome\{forward="rpi-tcp-80",[^}]*"timeout"/m);
    assert.match(before, /^porthole_forward_probe_age_seconds\{forward="rpi-tcp-80",peer="rpi"\} \d+$/m);

    // Break it soon after a handshake (WireGuard rekeys every 2 minutes while traffic flows), so the
    // handshake stays under 180 s old, "online", for the whole time nothing arrives.
    await until(lab, 150, "a handshake in the last 90 s", (s) => (s.rpi.handshakeAgeSeconds ?? 999) <= 90);
    await cloudFirewall(lab.world, "udp", 51820, true);
    try {
      const broken = await until(
        lab,
        60,
        "nothing received from rpi for 30 s",
        (s) => (s.rpi.receivedSecondsAgo ?? 0) >= 30 && s.share.probeOutcome === "timeout",
      );
      assert.equal(broken.rpi.online, true, "the handshake still reads online");

      const d = await doctor(lab);
      assert.equal(d.code, 4, d.stdout);
      assert.match(
        d.stdout,
        /^FAIL peers +rpi: reads online \(last handshake \d+ seconds? ago\), but the hub has received nothing from rpi for \d+ seconds? \(it sends at least every 25 s\): the tunnel has broken since that handshake; its forward rpi-tcp-80 does not work\n +fix: on rpi: porthole doctor/m,
      );
      // The share's timeout is blamed on the tunnel (nothing arrives), not on a firewall on rpi.
      assert.match(
        d.stdout,
        /^FAIL forwards +rpi-tcp-80 [^\n]*\(timed out\): nothing received from rpi for \d+ seconds? \(it sends at least every 25 s\): the tunnel is likelier down than a firewall\n +fix: on rpi: porthole status \(its handshake with the hub\)/m,
      );

      const m = await metrics(lab);
      assert.match(m, /^porthole_peer_up\{peer="rpi"\} 1$/m);
      const age = Number(/^porthole_peer_last_receive_age_seconds\{peer="rpi"\} (\d+)$/m.exec(m)?.[1]);
      assert.ok(age >= 30, m);
      assert.match(
        m,
        /^porthole_forward_probe_outcome\{forward="rpi-tcp-80",peer="rpi",outcome="timeout"\} 1$/m,
      );
      assert.doesNotMatch(m, /^porthole_forward_probe_outcome\{forward="rpi-tcp-80",[^}]*"accepted"/m);
    } finally {
      await cloudFirewall(lab.world, "udp", 51820, false);
    }

    // Undone: rpi's packets arrive again, and doctor's tunnel verdict clears.
    await until(lab, 60, "rpi received again", (s) => (s.rpi.receivedSecondsAgo ?? 99) < 30);
    const again = await doctor(lab);
    assert.match(
      again.stdout,
      /^ok +peers +rpi: online [^\n]*the hub last received from rpi \d+ seconds? ago$/m,
    );
  });
});
