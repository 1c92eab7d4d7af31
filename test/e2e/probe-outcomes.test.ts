// The hub's probe of a forward's target says how it ended, in a real lab (wireguard-go, nft, namespaces):
// a port nothing listens on reads "refused" (the peer is reached); the share's target behind a drop on
// the peer reads "timed out" with the peer online, so a firewall is likelier than the tunnel; behind an
// admin-prohibited reject it reads "unreachable". status (text and --json) and doctor say each alike.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Lab, withJoinedLab } from "./lab-fixture.ts";

interface Fwd {
  name: string;
  reachable: boolean | null;
  probeOutcome?: string | null;
  probeError?: string;
  working: boolean | null;
}

/** The peer's own nft table, dropping or rejecting the tunnel's connections to tcp/8080 (the share). */
const peerFilter = (verdict: string) => `table inet pt_probe {
  chain input {
    type filter hook input priority -10; policy accept;
    iifname "wg0" tcp dport 8080 ${verdict}
  }
}
`;

async function setPeerFilter(lab: Lab, verdict: string | null): Promise<void> {
  await lab.world.exec("peer", ["nft", "delete", "table", "inet", "pt_probe"], { allowFail: true });
  if (verdict) await lab.world.exec("peer", ["nft", "-f", "-"], { input: peerFilter(verdict) });
}

/**
 * The forward's status once its probe has the outcome `want` (a status waits 1 s for its probes; a
 * connect that times out lands for the next status), as --json and as the text's `working:` line.
 */
async function statusOf(lab: Lab, name: string, want: string): Promise<{ fwd: Fwd; working: string }> {
  let fwd: Fwd | undefined;
  for (let i = 0; i < 10 && fwd?.probeOutcome !== want; i++) {
    const r = await lab.porthole("hub", ["status", "--json"]);
    fwd = (JSON.parse(r.stdout) as { forwards: Fwd[] }).forwards.find((f) => f.name === name);
  }
  assert.ok(fwd, `${name} in status`);
  assert.equal(fwd.probeOutcome, want, JSON.stringify(fwd));
  const text = (await lab.porthole("hub", ["status"])).stdout;
  const working = new RegExp(`^  ${name} .*\\n.*working: (.*)$`, "m").exec(text)?.[1] ?? text;
  return { fwd, working };
}

const doctor = async (lab: Lab) => lab.porthole("hub", ["doctor"], { allowFail: true });

test("a target probe tells refused (nothing listens) from timed out (a drop on the peer) from unreachable (an admin-prohibited reject)", async (t) => {
  await withJoinedLab(t, "pt", {}, async (lab) => {
    // Each case a subtest over the one lab: one that fails does not hide the next.
    await t.test(
      "refused: a forward to a port nothing on the peer listens on (the peer answers with a reset)",
      async () => {
        await lab.porthole("peer", ["expose", "81", "--to", "9091"]);
        try {
          const refused = await statusOf(lab, "rpi-tcp-81", "refused");
          assert.deepEqual([refused.fwd.reachable, refused.fwd.working], [false, false]);
          assert.match(
            refused.working,
            /^NO, 10\.8\.0\.2:9091 refused the hub's connection( \d+ seconds? ago)?: rpi is reached; nothing accepts on 10\.8\.0\.2:9091 \(or a firewall there rejects it\)$/,
          );
          const d = await doctor(lab);
          assert.equal(d.code, 4, d.stdout);
          assert.match(
            d.stdout,
            /^FAIL forwards +rpi-tcp-81 tcp\/81 → rpi:9091 \(snat\): 10\.8\.0\.2:9091 refused the hub's connection: rpi is reached; nothing accepts on 10\.8\.0\.2:9091 \(or a firewall there rejects it\)\n +fix: on rpi: start the service or check the forward's target port/m,
          );
          assert.match(
            d.stdout,
            /^ok +forwards +rpi-tcp-80 .*10\.8\.0\.2:8080 accepts connections from the hub$/m,
          );
        } finally {
          await lab.porthole("peer", ["unexpose", "81"]);
        }
      },
    );

    await t.test(
      "timed out: the peer drops the tunnel's SYNs to the share's target; its agent keeps the handshake fresh",
      async () => {
        await setPeerFilter(lab, "drop");
        const dropped = await statusOf(lab, "rpi-tcp-80", "timeout");
        assert.deepEqual([dropped.fwd.reachable, dropped.fwd.working], [false, false]);
        assert.match(
          dropped.working,
          /^NO, 10\.8\.0\.2:8080 did not answer the hub's connection( \d+ seconds? ago)? \(timed out\): rpi sent packets \d+ seconds? ago, so the tunnel carries them and a firewall on rpi \(or past it\) dropping tcp\/8080 is likelier$/,
          "the hub saw rpi's received bytes grow lately (its agent and keepalives still arrive)",
        );
        const d = await doctor(lab);
        assert.equal(d.code, 4, d.stdout);
        assert.match(
          d.stdout,
          // Doctor asks the daemon when the hub last received from rpi, as status says it.
          /^FAIL forwards +rpi-tcp-80 tcp\/80 → rpi:8080 \(snat\): 10\.8\.0\.2:8080 did not answer the hub's connection \(timed out\): rpi sent packets \d+ seconds? ago, so the tunnel carries them and a firewall on rpi \(or past it\) dropping tcp\/8080 is likelier\n +fix: on rpi: accept tcp\/8080 from wg0 in its firewall/m,
        );
      },
    );

    await t.test(
      "unreachable: the peer rejects them with an ICMP admin-prohibited, which Linux reads as EHOSTUNREACH",
      async () => {
        await setPeerFilter(lab, "reject with icmpx type admin-prohibited");
        const rejected = await statusOf(lab, "rpi-tcp-80", "unreachable");
        assert.deepEqual(
          [rejected.fwd.reachable, rejected.fwd.probeError, rejected.fwd.working],
          [false, "EHOSTUNREACH", false],
        );
        assert.match(
          rejected.working,
          /^NO, 10\.8\.0\.2:8080 was unreachable from the hub( \d+ seconds? ago)? \(EHOSTUNREACH: /,
        );
        const d = await doctor(lab);
        assert.match(
          d.stdout,
          /^FAIL forwards +rpi-tcp-80 [^\n]*10\.8\.0\.2:8080 was unreachable from the hub \(EHOSTUNREACH: [^\n]*\n +fix: on the hub: ip route get 10\.8\.0\.2 /m,
        );
      },
    );

    await t.test(
      "accepted: the filter gone, the share's target accepts again and doctor passes",
      async () => {
        await setPeerFilter(lab, null);
        const back = await statusOf(lab, "rpi-tcp-80", "accepted");
        assert.deepEqual([back.fwd.reachable, back.fwd.working], [true, true]);
        const d = await doctor(lab);
        assert.equal(d.code, 0, d.stdout);
      },
    );
  });
});
