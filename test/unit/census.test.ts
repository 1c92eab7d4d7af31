// The census of the forwards' counters: when a status waits for a count, when it answers with the last
// one (and that one's time), and how often it counts with nobody asking.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Census, type CensusPace } from "../../src/hub/census.ts";

const PACE: CensusPace = { waitMs: 30, freshMs: 1000, askedFactor: 4, idleMs: 10_000, idleFactor: 50 };

/** A census on a clock the test moves, and a count whose each call the test ends (or that ends at once). */
function setup() {
  const clock = { ms: 1_000_000 };
  const census = new Census<number>(() => clock.ms, PACE);
  const calls: { resolve: (n: number) => void; reject: (e: Error) => void }[] = [];
  const slow = () => new Promise<number>((resolve, reject) => calls.push({ resolve, reject }));
  /** A count of `n` that takes `ms` on the census clock. */
  const taking = (n: number, ms: number) => async () => {
    clock.ms += ms;
    return n;
  };
  return { clock, census, calls, slow, taking };
}

test("census: the first status waits for its count; within a second the same count serves", async () => {
  const { clock, census, taking } = setup();
  const first = await census.read("spec", taking(5, 40));
  assert.deepEqual(first, { value: 5, key: "spec", atMs: 1_000_000, tookMs: 40 });
  clock.ms += 500;
  let counted = false;
  const again = await census.read("spec", async () => {
    counted = true;
    return 6;
  });
  assert.equal(again.value, 5);
  assert.equal(counted, false, "no count within freshMs");
});

test("census: a quick count is waited for, so a small hub's numbers are current", async () => {
  const { clock, census, taking } = setup();
  await census.read("spec", taking(5, 10));
  clock.ms += 2000;
  const next = await census.read("spec", taking(7, 10));
  assert.deepEqual([next.value, next.atMs], [7, 1_002_010]);
});

test("census: after a slow count a status answers with it at once and counts once for the next", async () => {
  const { clock, census, calls, slow } = setup();
  const first = census.read("spec", slow);
  clock.ms += 800; // the count takes 0.8 s
  calls[0]?.resolve(25_000);
  assert.deepEqual(await first, { value: 25_000, key: "spec", atMs: 1_000_000, tookMs: 800 });

  clock.ms += 2000; // younger than askedFactor × 0.8 s: still served as it is
  assert.equal((await census.read("spec", slow)).atMs, 1_000_000);
  assert.equal(calls.length, 1);

  clock.ms += 2000; // 4.8 s old: the status answers with it and starts a count
  const stale = await census.read("spec", slow);
  assert.deepEqual([stale.value, stale.atMs], [25_000, 1_000_000]);
  assert.equal(calls.length, 2);
  await census.read("spec", slow); // meanwhile: the count under way is not started again
  assert.equal(calls.length, 2);

  clock.ms += 700;
  calls[1]?.resolve(26_000);
  await new Promise((r) => setImmediate(r));
  const fresh = await census.read("spec", slow);
  assert.deepEqual([fresh.value, fresh.atMs, fresh.tookMs], [26_000, 1_004_800, 700]);
});

test("census: a count that outlasts the wait leaves the status with the last count", async () => {
  const { clock, census, calls, slow, taking } = setup();
  await census.read("spec", taking(5, 10));
  clock.ms += 2000;
  const answered = await census.read("spec", slow); // waits PACE.waitMs (real time), then answers
  assert.deepEqual([answered.value, answered.atMs], [5, 1_000_000]);
  calls[0]?.resolve(6);
  await new Promise((r) => setImmediate(r));
  clock.ms += 100;
  assert.equal((await census.read("spec", slow)).value, 6, "the count finished for the next status");
});

test("census: a count of another spec is not served; a status waits for this spec's count", async () => {
  const { clock, census, taking } = setup();
  await census.read("old", taking(5, 900));
  clock.ms += 100;
  const now = await census.read("new", taking(1, 900));
  assert.deepEqual([now.value, now.key], [1, "new"]);
});

test("census: a failed count leaves the last one; with none, the status fails", async () => {
  const { clock, census, taking } = setup();
  const boom = async (): Promise<number> => {
    throw new Error("nft: no such table");
  };
  await assert.rejects(census.read("spec", boom), /no such table/);
  await census.read("spec", taking(5, 10));
  clock.ms += 2000;
  assert.equal((await census.read("spec", boom)).value, 5);
});

test("census: with nobody asking, the watch counts at the idle pace, one count at a time", async () => {
  const { clock, census, calls, slow } = setup();
  census.idle("spec", slow); // nothing counted yet: counts
  assert.equal(calls.length, 1);
  census.idle("spec", slow); // one under way
  assert.equal(calls.length, 1);
  clock.ms += 1000; // it takes 1 s: the next in max(10 s, 50 × 1 s)
  calls[0]?.resolve(3);
  await new Promise((r) => setImmediate(r));
  for (const s of [10, 30, 48]) {
    clock.ms = 1_000_000 + s * 1000;
    census.idle("spec", slow);
  }
  assert.equal(calls.length, 1, "not within 50 × the count's duration");
  clock.ms = 1_000_000 + 50_000;
  census.idle("spec", slow);
  assert.equal(calls.length, 2);
});
