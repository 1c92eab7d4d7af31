// The status's probe cache: what it probes again, how much per call, how long it waits, and that what it
// did not probe is never reported as probed.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConnectResult } from "../../src/host/types.ts";
import { ProbeCache, type ProbeLimits } from "../../src/hub/probe-cache.ts";

const T = (n: number) => Array.from({ length: n }, (_, i) => ({ addr: `10.8.0.${i + 2}`, port: 80 }));
const LIMITS: ProbeLimits = { freshMs: 1000, max: 2, atOnce: 2, budgetMs: 1000 };
const OK: ConnectResult = { outcome: "accepted", error: null };
const REFUSED: ConnectResult = { outcome: "refused", error: "ECONNREFUSED" };

function cache(answers: (addr: string) => ConnectResult | Promise<ConnectResult> = () => OK) {
  let now = 0;
  const probed: string[] = [];
  const c = new ProbeCache(
    async (addr) => {
      probed.push(addr);
      return answers(addr);
    },
    () => now,
  );
  return {
    c,
    probed,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

test("probe cache: at most `max` targets a call, never-probed and then oldest first; the rest is absent", async () => {
  const { c, probed, tick } = cache((a) => (a !== "10.8.0.3" ? OK : REFUSED));
  const first = await c.check(T(5), LIMITS);
  assert.deepEqual(probed, ["10.8.0.2", "10.8.0.3"]);
  assert.deepEqual(
    [...first].map(([k, p]) => [k, p.outcome, p.error, p.atMs]),
    [
      ["10.8.0.2:80", "accepted", null, 0],
      ["10.8.0.3:80", "refused", "ECONNREFUSED", 0],
    ],
    "targets not probed are not in the answer: unknown, not unreachable nor reachable",
  );
  tick(5000);
  probed.length = 0;
  const second = await c.check(T(5), LIMITS);
  assert.deepEqual(probed, ["10.8.0.4", "10.8.0.5"], "never probed before probed again");
  assert.equal(second.size, 4);
  assert.equal(second.get("10.8.0.2:80")?.atMs, 0, "an earlier result keeps its time");
  tick(5000);
  probed.length = 0;
  await c.check(T(5), LIMITS);
  assert.deepEqual(probed, ["10.8.0.6", "10.8.0.2"], "then the oldest result");
});

test("probe cache: a target probed again is then the newest: the next call takes the next oldest", async () => {
  const { c, probed, tick } = cache();
  for (let i = 0; i < 5; i++) {
    await c.check(T(3), { ...LIMITS, max: 1 });
    tick(5000);
  }
  assert.deepEqual(probed, ["10.8.0.2", "10.8.0.3", "10.8.0.4", "10.8.0.2", "10.8.0.3"]);
});

test("probe cache: a fresh result is used as it is; a target no longer asked for is forgotten", async () => {
  const { c, probed, tick } = cache();
  await c.check(T(2), LIMITS);
  tick(999);
  probed.length = 0;
  assert.equal((await c.check(T(2), LIMITS)).size, 2);
  assert.deepEqual(probed, [], "younger than freshMs: not probed again");
  await c.check(T(1), LIMITS);
  tick(5000);
  probed.length = 0;
  const again = await c.check(T(2), { ...LIMITS, max: 1 });
  assert.deepEqual(probed, ["10.8.0.3"], "the forgotten target counts as never probed");
  assert.deepEqual(
    [...again].map(([k, p]) => [k, p.atMs]),
    [
      ["10.8.0.2:80", 0],
      ["10.8.0.3:80", 5999],
    ],
  );
});

test("probe cache: the call waits `budgetMs` at most; a slower probe lands for the next call", async () => {
  let release: (r: ConnectResult) => void = () => {};
  const slow = new Promise<ConnectResult>((r) => (release = r));
  const { c, probed, tick } = cache((a) => (a === "10.8.0.2" ? slow : OK));
  // The slow probe never ends until released: the call returning at all is the budget at work.
  const first = await c.check(T(2), { ...LIMITS, budgetMs: 50 });
  assert.deepEqual([...first.keys()], ["10.8.0.3:80"], "the unfinished probe is not reported");
  tick(10);
  release({ outcome: "timeout", error: null });
  await new Promise((r) => setImmediate(r));
  probed.length = 0;
  const second = await c.check(T(2), { ...LIMITS, budgetMs: 50 });
  assert.deepEqual(probed, [], "both results are fresh");
  assert.deepEqual(second.get("10.8.0.2:80"), { outcome: "timeout", error: null, atMs: 10 });
});
