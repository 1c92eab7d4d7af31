// Flows the hub tracked before a forward existed or changed: a UDP game client that keeps sending from
// one source port must reach the forward as soon as it is exposed, lose it as soon as it is removed,
// and follow a changed target with its next datagram (issue 8 §1), on both firewall backends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LAB } from "../../src/lab/topology.ts";
import { type Lab, onPeer, SUPPORT, specWith, startWhoami, withJoinedLab, withLab } from "./lab-fixture.ts";

const GAME = 27015;
const SOURCE_PORT = 40123;

interface Stream {
  sent: Map<number, number>;
  /** Answers: datagram number, time received, the port of the echo server that answered. */
  got: { n: number; at: number; port: number }[];
}

/** Starts the client that keeps sending to the hub's public GAME port from one source port. */
async function startStream(lab: Lab): Promise<() => Stream> {
  const p = await lab.world.spawn(
    "client",
    [
      process.execPath,
      join(SUPPORT, "udp-stream.mjs"),
      LAB.hubPublic,
      String(GAME),
      String(SOURCE_PORT),
      "100",
    ],
    { label: "udp-stream" },
  );
  return () => {
    const s: Stream = { sent: new Map(), got: [] };
    for (const line of readFileSync(p.log, "utf8").split("\n")) {
      const sent = /^sent (\d+) (\d+)$/.exec(line);
      if (sent) s.sent.set(Number(sent[1]), Number(sent[2]));
      const got = /^got (\d+) (\d+) \S+ (\d+) \d+$/.exec(line);
      if (got) s.got.push({ n: Number(got[1]), at: Number(got[2]), port: Number(got[3]) });
    }
    return s;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok` holds for the stream (at most `ms`), and returns the stream then. */
async function until(read: () => Stream, ok: (s: Stream) => boolean, ms: number): Promise<Stream> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = read();
    if (ok(s) || Date.now() > deadline) return s;
    await sleep(50);
  }
}

for (const backend of ["nftables", "iptables"] as const) {
  test(`a UDP client sending before \`expose\` is answered within 1 s of it, and cut off at once by \`unexpose\` (${backend})`, async (t) => {
    await withJoinedLab(t, backend === "nftables" ? "sfn" : "sfi", { backend }, async (lab) => {
      await startWhoami(lab, [`udp:${GAME}`]);
      const read = await startStream(lab);
      // The hub tracks the client's flow (to the hub itself: nothing listens there) for 2 s.
      await sleep(2000);
      const before = read();
      assert.ok(before.sent.size >= 10, `the client sends (${before.sent.size} datagrams)`);
      assert.equal(before.got.length, 0, "no answer before the forward exists");

      await lab.porthole("peer", ["expose", `${GAME}:udp`, "--to", String(GAME)]);
      const exposed = Date.now();
      const on = await until(read, (s) => s.got.some((g) => g.at >= exposed), 3000);
      const first = on.got.find((g) => g.at >= exposed);
      assert.ok(first, "the client's flow reaches the forward");
      t.diagnostic(`first answer ${first.at - exposed} ms after expose returned`);
      assert.ok(first.at - exposed <= 1000, `answered ${first.at - exposed} ms after expose returned`);
      assert.equal(first.port, GAME);

      await lab.porthole("peer", ["unexpose", `${GAME}:udp`]);
      const removed = Date.now();
      await sleep(1500);
      const off = read();
      const sentAfter = [...off.sent].filter(([, at]) => at > removed).length;
      assert.ok(sentAfter >= 10, `the client kept sending (${sentAfter} datagrams)`);
      // Datagrams in flight when unexpose returned may still be answered; nothing sent after it is.
      const late = off.got.filter((g) => (off.sent.get(g.n) ?? 0) > removed);
      assert.deepEqual(late, [], "no datagram sent after unexpose reaches the peer");
    });
  });

  test(`a changed target gets the client's next datagram (${backend})`, async (t) => {
    await withLab(t, backend === "nftables" ? "scn" : "sci", { backend }, async (lab) => {
      await startWhoami(lab, [`udp:${GAME}`, `udp:${GAME + 1}`]);
      const forward = (target: number) =>
        `{ name: game, proto: udp, port: ${GAME}, peer: rpi, targetPort: ${target} }`;
      await lab.writeSpec(specWith(lab, backend, "snat", [forward(GAME)]));
      await lab.porthole("hub", ["apply", "--host", "hub"]);
      const read = await startStream(lab);
      const on = await until(read, (s) => s.got.length >= 5, 5000);
      assert.ok(on.got.length >= 5, "the flow reaches the first target");
      assert.ok(on.got.every((g) => g.port === GAME));

      await lab.writeSpec(specWith(lab, backend, "snat", [forward(GAME + 1)]));
      const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
      assert.match(applied.stdout, /~ conntrack: forget flows to udp\/27015/);
      const changed = Date.now();
      const nextOf = (s: Stream) => [...s.sent].find(([, at]) => at > changed)?.[0];
      const after = await until(read, (s) => s.got.some((g) => g.n === nextOf(s)), 2000);
      const next = nextOf(after);
      assert.ok(next !== undefined, "the client kept sending");
      const answer = after.got.find((g) => g.n === next);
      assert.equal(
        answer?.port,
        GAME + 1,
        `datagram ${next}, the first sent after the change, reaches the new target`,
      );
      const stale = after.got.filter((g) => (after.sent.get(g.n) ?? 0) > changed && g.port !== GAME + 1);
      assert.deepEqual(stale, [], "nothing sent after the change reaches the old target");
    });
  });
}

// A changed SNAT pool: the flow keeps its old source until forgotten, and the peer, which has taken
// the new pool in place of the old, would drop every datagram of it (issue 13 §1).
test("a changed SNAT pool gets the client's next datagrams through (nftables)", async (t) => {
  await withLab(t, "spl", { backend: "nftables" }, async (lab) => {
    await startWhoami(lab, [`udp:${GAME}`]);
    const spec = (pool: string) => {
      const text = specWith(lab, "nftables", "snat", [
        `{ name: game, proto: udp, port: ${GAME}, peer: rpi }`,
      ]);
      assert.match(text, /^ {2}snatPool: 240\.0\.0\.0\/8$/m, "the lab's spec has the pool");
      return text.replace(/^ {2}snatPool: .*$/m, `  snatPool: ${pool}`);
    };
    await lab.writeSpec(spec("240.0.0.0/8"));
    await lab.applyBoth();
    const read = await startStream(lab);
    const on = await until(read, (s) => s.got.length >= 5, 5000);
    assert.ok(on.got.length >= 5, "the flow reaches the target");

    await lab.writeSpec(spec("100.64.0.0/10"));
    const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
    assert.match(applied.stdout, /~ conntrack: forget flows to .*udp\/27015/);
    await lab.porthole("peer", ["apply", "--host", "rpi"]);
    const changed = Date.now();
    const answered = (s: Stream) => s.got.filter((g) => (s.sent.get(g.n) ?? 0) > changed + 500);
    const after = await until(read, (s) => answered(s).length >= 5, 3000);
    assert.ok(
      answered(after).length >= 5,
      `answers to datagrams sent after the change: ${answered(after).length}`,
    );
    const ct = await lab.world.exec("hub", ["conntrack", "-L", "-p", "udp", "--orig-port-dst", String(GAME)]);
    assert.match(ct.stdout, /dst=100\.64\./, ct.stdout);
  });
});

// A changed forward deletes its live TCP flows but keeps the ended ones: a TIME_WAIT entry is what
// stops SNAT from giving its port to another client while the peer still holds the connection in
// TIME_WAIT (issue 13 §1: the peer would refuse that SYN as a stale duplicate).
test("a changed TCP forward: its open flows are deleted, its TIME_WAIT flows are kept", async (t) => {
  await withLab(t, "stw", { backend: "nftables" }, async (lab) => {
    await startWhoami(lab, ["tcp:9001", "tcp:9002"]);
    const forward = (target: number) => `{ name: web, port: 8090, peer: rpi, targetPort: ${target} }`;
    await lab.writeSpec(specWith(lab, "nftables", "snat", [forward(9001)]));
    await lab.porthole("hub", ["apply", "--host", "hub"]);
    // One finished request (the server closes: the flow ends in TIME_WAIT) and one connection held open.
    const r = await lab.curl([`http://${LAB.hubPublic}:8090/`]);
    // The client reaches the peer from its address in the lab's SNAT pool.
    assert.equal(r.stdout.trim(), `${onPeer()} 9001`, r.stderr);
    await lab.world.spawn(
      "client",
      [
        process.execPath,
        "-e",
        `require("net").connect(8090, "${LAB.hubPublic}", () => console.log("open")); setTimeout(() => {}, 60000)`,
      ],
      { label: "hold" },
    );
    const flows = async () =>
      (await lab.world.exec("hub", ["conntrack", "-L", "-p", "tcp", "--orig-port-dst", "8090"])).stdout;
    for (let i = 0; i < 50 && !/ESTABLISHED/.test(await flows()); i++) await sleep(100);
    const before = await flows();
    assert.match(before, /ESTABLISHED/, before);
    assert.match(before, /TIME_WAIT/, before);

    await lab.writeSpec(specWith(lab, "nftables", "snat", [forward(9002)]));
    const applied = await lab.porthole("hub", ["apply", "--host", "hub"]);
    assert.match(applied.stdout, /~ conntrack: forget flows to tcp\/8090/);
    const after = await flows();
    assert.doesNotMatch(after, /ESTABLISHED/, "the open flow was deleted");
    assert.match(after, /TIME_WAIT/, "the ended flow was kept");
    const again = (await lab.curl([`http://${LAB.hubPublic}:8090/`])).stdout;
    assert.equal(again.trim(), `${onPeer()} 9002`);
  });
});
