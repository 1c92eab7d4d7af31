// porthole trace in the lab: a request from the client shows its whole path through the hub's kernel
// (DNAT, forward accept, SNAT, out wg0, the reply); a foreign table's drop is named; the trace table
// is gone when the trace ends — at its limits, on SIGTERM, and after SIGKILL (at the killed trace's
// next packet, or by the next trace).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { WEBDAV } from "../../src/lab/lab.ts";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, PORTHOLE, withJoinedLab } from "./lab-fixture.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/foreign");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const share = (lab: Lab, timeout = "5") =>
  lab.world.exec(
    "client",
    [
      "curl",
      "-sS",
      "-m",
      timeout,
      "-u",
      `${WEBDAV.user}:${WEBDAV.pass}`,
      `http://${LAB.hubPublic}/hello.txt`,
    ],
    { allowFail: true },
  );
const traceTables = async (lab: Lab) =>
  (await lab.world.exec("hub", ["nft", "list", "tables"])).stdout.match(/porthole_trace_\d+_\d+/g) ?? [];

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await sleep(100);
  }
}

/** Runs `porthole trace ARGS` on the hub, makes the request once the trace table is in place. */
async function traced(lab: Lab, args: string[], request: () => Promise<unknown>) {
  const run = lab.porthole("hub", ["trace", ...args], { allowFail: true });
  await until(
    "the trace table",
    () => traceTables(lab),
    (t) => t.length === 1,
  );
  await request();
  return run;
}

const running = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

test("trace (nftables): the request's path, a firewalld-like drop named, nothing left after its limits, SIGTERM or SIGKILL", async (t) => {
  await withJoinedLab(t, "tr", {}, async (lab) => {
    const r = await traced(lab, ["80", "--count", "3", "--seconds", "60"], () => share(lab));
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^tracing tcp\/80 on this hub \(forward rpi-tcp-80 → rpi:8080\)$/m);
    assert.match(out, /^#1 in ens3: tcp 203\.0\.113\.2:(\d+) → 203\.0\.113\.1:80 SYN$/m);
    assert.match(out, /^ {3}prerouting {3}porthole's chain prerouting: accept, DNAT to 10\.8\.0\.2:8080$/m);
    // The chains jumped to from forward are porthole's business; the verdict is the user's.
    assert.match(out, /^ {3}forward {6}porthole's chain forward( → [a-z_]+)*: accept$/m);
    assert.match(
      out,
      /^ {3}postrouting {2}porthole's chain postrouting: accept, SNAT to 240\.0\.113\.2:\d+$/m,
    );
    assert.match(out, /^ {3}out wg0: tcp 240\.0\.113\.2:\d+ → 10\.8\.0\.2:8080$/m);
    assert.match(out, /^#2 reply in wg0: tcp 10\.8\.0\.2:8080 → 240\.0\.113\.2:\d+ SYN-ACK$/m);
    assert.match(
      out,
      /^ {3}out ens3: tcp 203\.0\.113\.1:80 → 203\.0\.113\.2:\d+ \(the flow's NAT reversed by conntrack\)$/m,
    );
    assert.match(out, /^#3 in ens3: .* ACK\n[^#]*out wg0: .*\(DNAT and SNAT by conntrack/m);
    assert.match(out, /^3 packets traced: 2 left by wg0; 1 left by ens3 \(replies\)$/m);
    assert.match(out, /^table inet porthole_trace_\d+_\d+ removed$/m);
    assert.deepEqual(await traceTables(lab), []);

    // A firewalld-like table drops forwarded traffic by policy: the trace says which.
    await lab.world.exec("hub", ["nft", "-f", join(FIXTURES, "firewalld-drop.nft")]);
    const dropped = await traced(lab, ["80", "--count", "1", "--seconds", "60"], () => share(lab, "2"));
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.match(
      dropped.stdout,
      /^ {3}forward {6}porthole's chain forward( → [a-z_]+)*: accept\n.*\n {3}forward {6}nft table inet firewalld chain filter_FORWARD: DROP \(policy\)\n {3}DROPPED by nft table inet firewalld chain filter_FORWARD \(policy drop\)$/m,
    );
    assert.deepEqual(await traceTables(lab), []);
    await lab.world.exec("hub", ["nft", "delete", "table", "inet", "firewalld"]);

    // SIGTERM (and Ctrl-C, the same handler): the trace ends as at its limits.
    const spawnTrace = async () => {
      const p = await lab.world.spawn("hub", [...PORTHOLE, "trace", "80"], { label: "trace" });
      const [table] = await until(
        "the trace table",
        () => traceTables(lab),
        (x) => x.length === 1,
      );
      return { p, nft: Number(/_(\d+)$/.exec(table as string)?.[1]) };
    };
    const term = await spawnTrace();
    process.kill(term.p.pid, "SIGTERM");
    await until(
      "the trace ends on SIGTERM",
      async () => running(term.p.pid),
      (r) => !r,
    );
    assert.match(
      readFileSync(term.p.log, "utf8"),
      /^0 packets traced\ntable inet porthole_trace_\d+_\d+ removed$/m,
    );
    assert.deepEqual(await traceTables(lab), []);
    assert.equal(running(term.nft), false);

    // SIGKILL: nft outlives porthole until its next traced packet finds no reader; the kernel then
    // removes the table with it.
    const kill1 = await spawnTrace();
    process.kill(kill1.p.pid, "SIGKILL");
    await until(
      "porthole is gone",
      async () => running(kill1.p.pid),
      (r) => !r,
    );
    assert.equal((await share(lab)).code, 0, "the table never stops traffic");
    await until(
      "the orphan's table goes at its next packet",
      () => traceTables(lab),
      (x) => x.length === 0,
    );
    assert.equal(running(kill1.nft), false);
    // … or the next trace ends it, by its pid.
    const kill2 = await spawnTrace();
    process.kill(kill2.p.pid, "SIGKILL");
    await until(
      "porthole is gone",
      async () => running(kill2.p.pid),
      (r) => !r,
    );
    const next = await lab.porthole("hub", ["trace", "80", "--seconds", "1"]);
    assert.match(
      next.stdout,
      new RegExp(`^ended the nft process of an earlier trace that was killed \\(pid ${kill2.nft}\\)$`, "m"),
    );
    assert.deepEqual(await traceTables(lab), []);
    assert.equal(running(kill2.nft), false);
  });
});

test("trace (iptables backend, iptables-nft): porthole's PORTHOLE-* chains in the path", async (t) => {
  await withJoinedLab(t, "ti", { backend: "iptables" }, async (lab) => {
    const r = await traced(lab, ["80", "--count", "1", "--seconds", "60"], () => share(lab));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ {3}prerouting {3}iptables-nft nat PREROUTING → PORTHOLE-PREROUTING: accept, DNAT to 10\.8\.0\.2:8080$/m,
    );
    assert.match(r.stdout, /^ {3}forward {6}iptables-nft filter FORWARD → PORTHOLE-FORWARD: accept$/m);
    assert.match(
      r.stdout,
      /^ {3}postrouting {2}iptables-nft nat POSTROUTING → PORTHOLE-POSTROUTING: accept, SNAT to 240\.0\.113\.2:\d+$/m,
    );
    assert.match(r.stdout, /^ {3}out wg0: tcp 240\.0\.113\.2:\d+ → 10\.8\.0\.2:8080$/m);
    assert.deepEqual(await traceTables(lab), []);
  });
});
