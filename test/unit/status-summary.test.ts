// `porthole status` on a hub with many forwards: the forwards summed up (totals, how many work, the ones
// that do not), each forward's lines with --all; a small hub lists every forward as before.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ForwardStatus, HubStatus } from "../../src/protocol/status.ts";
import { LISTED_FORWARDS_UP_TO } from "../../src/protocol/status-summary.ts";
import { renderStatus } from "../../src/protocol/status-text.ts";

function forward(i: number, over: Partial<ForwardStatus> = {}): ForwardStatus {
  return {
    name: `f${i}`,
    peer: "rpi",
    summary: `f${i} tcp/${10000 + i} → rpi:${10000 + i} (snat)`,
    mode: "snat",
    connectionsTotal: 3,
    packets: 10,
    bytes: 1000,
    establishedConnections: 1,
    probeTarget: `10.8.0.2:${10000 + i}`,
    reachable: true,
    probeAgeSeconds: 0,
    blockedBy: [],
    working: true,
    ...over,
  };
}

const hubWith = (forwards: ForwardStatus[]): HubStatus => ({
  hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
  peers: [],
  forwards,
  firewall: [],
});

test("status sums up more than LISTED_FORWARDS_UP_TO forwards and lists those that do not work", () => {
  const n = LISTED_FORWARDS_UP_TO + 50;
  const forwards = Array.from({ length: n }, (_, i) => forward(i));
  forwards[7] = forward(7, { reachable: false, working: false });
  forwards[9] = forward(9, { reachable: null, probeAgeSeconds: null, working: null });
  forwards[11] = forward(11, {
    blockedBy: ["nft table inet firewalld chain filter_FORWARD (policy drop), maybe"],
    working: null,
  });
  const text = renderStatus(hubWith(forwards));
  assert.match(
    text,
    new RegExp(
      `${n} forwards \\(each one: porthole status --all\\); together: connections: ${n} established, ${3 * n} total; traffic: ${10 * n} packets, `,
    ),
  );
  assert.match(text, new RegExp(`working: ${n - 3} yes, 1 NO, 2 unknown`));
  assert.match(text, /not working, maybe dropped, or its peer not in step \(2\):/);
  assert.match(text, /f7 tcp\/10007 .*\n.*working: NO, the target did not accept a connection/);
  assert.match(text, /f11 tcp\/10011 .*\n.*working: unknown, nft table inet firewalld/);
  assert.doesNotMatch(
    text,
    /f9 tcp|f0 tcp/,
    "a forward that works, or is only not probed yet, is not listed",
  );

  const all = renderStatus(hubWith(forwards), true);
  for (const f of forwards) assert.ok(all.includes(`  ${f.summary}\n`), `${f.name} listed with --all`);
  assert.doesNotMatch(all, /together:/);
});

test("status's summary says unknown for a count one forward lacks, and lists at most 20 problems", () => {
  const n = LISTED_FORWARDS_UP_TO + 1;
  const forwards = Array.from({ length: n }, (_, i) =>
    forward(i, { reachable: false, working: false, establishedConnections: i === 3 ? null : 1 }),
  );
  forwards[5] = forward(5, { packets: null, bytes: null });
  const text = renderStatus(hubWith(forwards));
  assert.match(
    text,
    /together: connections: unknown established, .* traffic: not counted \(iptables backend\)/,
  );
  assert.match(
    text,
    new RegExp(`not working, maybe dropped, or its peer not in step \\(${n - 1}, the first 20\\):`),
  );
  assert.equal(text.match(/working: NO, the target/g)?.length, 20);
});

test("status lists every forward of a hub with up to LISTED_FORWARDS_UP_TO", () => {
  const forwards = Array.from({ length: LISTED_FORWARDS_UP_TO }, (_, i) => forward(i));
  const text = renderStatus(hubWith(forwards));
  assert.equal(text.match(/ established, 3 total; traffic: 10 packets/g)?.length, LISTED_FORWARDS_UP_TO);
  assert.doesNotMatch(text, /together:/);
});
