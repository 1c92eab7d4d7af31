// /metrics says what status knows: when the hub last received from each peer, how each target's last
// probe ended (its outcome as a label) and how old it is; what is not known is an absent series (a peer whose state the hub's interface down hides, a target never probed), never a 0.
import assert from "node:assert/strict";
import { test } from "node:test";
import { APPLY_BUCKETS, Histogram, renderMetrics } from "../../src/hub/metrics.ts";
import type { ForwardStatus, HubStatus, PeerStatus } from "../../src/protocol/status.ts";
import { peerStatus } from "./helpers/peer-status.ts";

const forward = (name: string, over: Partial<ForwardStatus> = {}): ForwardStatus => ({
  name,
  peer: "rpi",
  summary: "",
  mode: "snat",
  connectionsTotal: 0,
  packets: 0,
  bytes: 0,
  establishedConnections: 0,
  probeTarget: "10.8.0.2:8080",
  reachable: null,
  probeOutcome: null,
  probeAgeSeconds: null,
  blockedBy: [],
  working: null,
  ...over,
});

const metrics = (peers: PeerStatus[], forwards: ForwardStatus[], up = true) =>
  renderMetrics(
    {
      hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up },
      peers,
      forwards,
      firewall: [],
    } satisfies HubStatus,
    { total: 0, failures: 0, lastDurationSeconds: 0, durations: new Histogram(APPLY_BUCKETS) },
  );

test("metrics: seconds since the hub last received from each peer; absent while not known", () => {
  const text = metrics(
    [
      peerStatus("rpi", { receivedSecondsAgo: 4 }),
      peerStatus("nas", { receivedSecondsAgo: 41 }),
      peerStatus("new", { receivedSecondsAgo: null }),
      peerStatus("old", { receivedSecondsAgo: undefined }),
    ],
    [],
  );
  assert.match(text, /^# TYPE porthole_peer_last_receive_age_seconds gauge$/m);
  assert.match(text, /^porthole_peer_last_receive_age_seconds\{peer="rpi"\} 4$/m);
  // Online by its handshake, yet nothing arrived for 41 s: what an alert on a broken tunnel reads.
  assert.match(text, /^porthole_peer_up\{peer="nas"\} 1$/m);
  assert.match(text, /^porthole_peer_last_receive_age_seconds\{peer="nas"\} 41$/m);
  assert.doesNotMatch(text, /^porthole_peer_last_receive_age_seconds\{peer="(new|old)"\}/m);
});

test("metrics: each peer's keepalive, what its silence is judged against, as status --json has it; the help says so, not a fixed 25 s", () => {
  const text = metrics(
    [
      peerStatus("rpi", { keepalive: 25 }),
      peerStatus("phone", { keepalive: 0, kind: "device" }),
      peerStatus("old", { keepalive: undefined }),
    ],
    [],
  );
  assert.match(text, /^porthole_peer_keepalive_seconds\{peer="rpi"\} 25$/m);
  assert.match(text, /^porthole_peer_keepalive_seconds\{peer="phone"\} 0$/m);
  assert.doesNotMatch(text, /^porthole_peer_keepalive_seconds\{peer="old"\}/m);
  const help = text.match(/^# HELP porthole_peer_last_receive_age_seconds (.*)$/m)?.[1] ?? "";
  assert.match(help, /max\(30, keepalive \+ 5\)/);
  assert.doesNotMatch(help, /every 25 s/);
  assert.match(help, /nothing ever received/);
});

test("metrics: how each target's last probe ended is one series labelled with the outcome, with its age; none for a target not probed", () => {
  const text = metrics(
    [peerStatus("rpi")],
    [
      forward("web", { probeOutcome: "timeout", reachable: false, probeAgeSeconds: 12 }),
      forward("files", { probeOutcome: "accepted", reachable: true, probeAgeSeconds: 0 }),
      forward("fresh", {}),
      forward("dns", { probeTarget: null }),
    ],
  );
  assert.match(text, /^# TYPE porthole_forward_probe_outcome gauge$/m);
  const series = text.split("\n").filter((l) => l.startsWith("porthole_forward_probe_outcome{"));
  assert.deepEqual(series, [
    'porthole_forward_probe_outcome{forward="web",peer="rpi",outcome="timeout"} 1',
    'porthole_forward_probe_outcome{forward="files",peer="rpi",outcome="accepted"} 1',
  ]);
  assert.match(text, /^porthole_forward_probe_age_seconds\{forward="web",peer="rpi"\} 12$/m);
  assert.match(text, /^porthole_forward_probe_age_seconds\{forward="files",peer="rpi"\} 0$/m);
  // Not probed yet, or not probed at all (UDP): no series, not zeros.
  assert.doesNotMatch(text, /^porthole_forward_probe_age_seconds\{forward="(fresh|dns)"/m);
});

test("metrics: with the hub's interface down a peer's up, handshake and byte counters are absent (unknown), not 0", () => {
  const down = peerStatus("rpi", {
    online: null,
    handshakeAgeSeconds: null,
    receivedSecondsAgo: null,
    endpoint: null,
    rxBytes: null,
    txBytes: null,
  });
  const text = metrics([down, peerStatus("off", { online: false, receivedSecondsAgo: null })], [], false);
  assert.doesNotMatch(text, /\{peer="rpi"\}/);
  // What tells an absent peer series from a removed peer: the interface itself.
  assert.match(text, /^porthole_hub_interface_up\{interface="wg0"\} 0$/m);
  assert.match(metrics([], []), /^porthole_hub_interface_up\{interface="wg0"\} 1$/m);
  assert.match(text, /^# TYPE porthole_peer_up gauge$/m, "the family is still described");
  assert.match(text, /^porthole_peer_up\{peer="off"\} 0$/m, "offline (read, no handshake) stays 0");
});
