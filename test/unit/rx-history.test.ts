// When the hub last saw a peer's received bytes grow (hub/rx-history.ts): what `receivedSecondsAgo`
// reads after each observation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RxHistory, WATCHED_ENOUGH_MS } from "../../src/hub/rx-history.ts";

const T0 = 1_800_000_000_000;

test("rx history: the first observation is unknown; growth reads 0, then the seconds since it", () => {
  const rx = new RxHistory();
  assert.equal(rx.observe("a", 100, T0), null, "one observation cannot show growth");
  assert.equal(rx.observe("a", 148, T0 + 2000), 0, "grew at this observation");
  assert.equal(rx.observe("a", 148, T0 + 4000), 2);
  assert.equal(rx.observe("a", 148, T0 + 14_900), 12, "whole seconds, rounded down");
  assert.equal(rx.observe("a", 300, T0 + 16_000), 0, "grew again");
});

test("rx history: never growing is unknown until watched 30 s, then the seconds watched", () => {
  const rx = new RxHistory();
  assert.equal(rx.observe("a", 100, T0), null);
  assert.equal(
    rx.observe("a", 100, T0 + 2000),
    null,
    "2 s without a packet is normal (keepalive every 25 s)",
  );
  assert.equal(rx.observe("a", 100, T0 + WATCHED_ENOUGH_MS - 1), null);
  assert.equal(rx.observe("a", 100, T0 + WATCHED_ENOUGH_MS), 30);
  assert.equal(rx.observe("a", 100, T0 + 52_000), 52);
});

test("rx history: nothing ever received (0 bytes) is never a number of seconds, however long watched", () => {
  const rx = new RxHistory();
  for (let ms = 0; ms <= 60_000; ms += 2000) assert.equal(rx.observe("a", 0, T0 + ms), null);
  assert.equal(rx.observe("a", 92, T0 + 62_000), 0, "the first packet: received now");
});

test("rx history: a counter that went down (interface re-created) starts over; peers are apart", () => {
  const rx = new RxHistory();
  rx.observe("a", 5000, T0);
  assert.equal(rx.observe("a", 6000, T0 + 2000), 0);
  assert.equal(rx.observe("b", 10, T0 + 2000), null, "another peer has its own first observation");
  assert.equal(rx.observe("a", 200, T0 + 40_000), null, "reset: a first observation again");
  assert.equal(rx.observe("a", 200, T0 + 42_000), null, "watched 2 s since the reset");
  assert.equal(rx.observe("a", 260, T0 + 44_000), 0);
  rx.keepOnly(["b"]);
  assert.equal(rx.observe("a", 300, T0 + 46_000), null, "a forgotten peer starts over");
  assert.equal(rx.observe("b", 10, T0 + 46_000), 44, "b kept: not grown, watched 44 s");
});
