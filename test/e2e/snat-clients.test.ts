// Several clients on one forward, reusing source ports; the server closes first, so the peer holds each
// ended connection in TIME_WAIT (60 s). A SYN that lands on the peer's TIME_WAIT socket of *another*
// client's flow carries timestamps from another clock: the peer drops it as an old duplicate (PAWS), a
// 1 s SYN retransmit for the client.
// - With hub.snatPool (what `hub init` and the lab write) each client reaches the peer from its own
//   pool address, so no client's SYN meets another's TIME_WAIT, whatever ports they share or reopen.
// - Without it (`snatPool: off`) every client reaches the peer as the hub's tunnel address. Then a
//   drop needs a port the hub has freed while the peer still holds it ("forgotten"): clients sharing a
//   source port while the hub forgets (here it must not: not even across an `apply`), or a client
//   reopening its own port, which makes conntrack kill the hub's TIME_WAIT entry and NAT the SYN afresh
//   (the SNAT must give it its old port back: no fully-random). What stays there (a port remapped after
//   a clash between clients, then reopened; a conntrack flush) is measured by bench/snat-reuse.bench.ts
//   and explained in docs/design-notes.md; the crossed rounds below make it happen, and are asserted
//   for the pool and transparent mode only.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LAB } from "../../src/lab/topology.ts";
import type { World } from "../../src/lab/world.ts";
import { type Lab, onPeer, specWith, startWhoami, withLab } from "./lab-fixture.ts";

/** Client addresses on the hub's link: the lab's two and two more added by the test. */
const CLIENTS = [LAB.client, LAB.client2, "203.0.113.4", "203.0.113.5"];
const SHARED_ROUNDS = 6;
const REOPEN_ROUNDS = 4;
const FIRST_PORT = 42_000;

/** The peer's TCP PAWS counters (TcpExt PAWS*: SYNs and segments dropped as old duplicates), summed. */
async function pawsDrops(world: World): Promise<number> {
  const text = (await world.exec("peer", ["cat", "/proc/net/netstat"])).stdout;
  const lines = text.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = (lines[0] ?? "").split(/\s+/).slice(1);
  const values = (lines[1] ?? "").split(/\s+/).slice(1).map(Number);
  let sum = 0;
  names.forEach((n, i) => {
    if (/^PAWS/.test(n)) sum += values[i] ?? 0;
  });
  assert.ok(
    names.some((n) => /^PAWS/.test(n)),
    "the peer's /proc/net/netstat has no PAWS counters",
  );
  return sum;
}

/** The peer's TIME_WAIT sockets on the target port: "address:port" of the far end. */
async function timeWaits(world: World): Promise<string[]> {
  const r = await world.exec("peer", ["ss", "-Htan", "state", "time-wait", "sport", "= :9000"]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/).at(-1) ?? "")
    .filter(Boolean);
}

/**
 * SNAT ports the peer holds in TIME_WAIT (from the hub's tunnel address) that the hub's conntrack no
 * longer holds: free for the next client while the peer still remembers another client's flow.
 */
async function forgottenPorts(world: World): Promise<string[]> {
  const ct = await world.exec("hub", ["conntrack", "-L", "-p", "tcp", "--orig-port-dst", "8000"]);
  const held = new Set<string>();
  for (const line of ct.stdout.split("\n")) {
    // The reply direction's dport is the SNAT port the peer answers to.
    const dports = [...line.matchAll(/dport=(\d+)/g)];
    if (dports.length >= 2) held.add(dports[1]?.[1] as string);
  }
  return (await timeWaits(world))
    .filter((far) => far.startsWith("10.8.0.1:"))
    .map((far) => far.slice("10.8.0.1:".length))
    .filter((port) => !held.has(port));
}

/** How clients reach the peer: snat into the pool, snat as the hub's address, or transparent. */
type Variant = "pool" | "hub address" | "transparent";

async function rounds(lab: Lab, variant: Variant, spec: (extra: string[]) => string): Promise<void> {
  for (const a of CLIENTS.slice(2))
    await lab.world.exec("client", ["ip", "address", "add", `${a}/24`, "dev", "to-hub"]);
  const before = await pawsDrops(lab.world);
  const slow: string[] = [];
  const connect = async (client: string, port: number) => {
    const res = await lab.curl(
      ["--local-port", String(port), "-w", " %{time_total}", `http://${LAB.hubPublic}:8000/`],
      client,
    );
    const [source, , seconds] = res.stdout.split(/\s+/);
    const expected = variant === "pool" ? onPeer(client) : variant === "hub address" ? "10.8.0.1" : client;
    assert.equal(source, expected, `${client}:${port}: ${res.stdout} ${res.stderr}`);
    // A SYN dropped by the peer costs the client a 1 s retransmit.
    if (Number(seconds) > 0.5) slow.push(`${client}:${port} took ${seconds} s`);
  };
  // Every client from the same source port, a new port each round: the hub holds each ended flow,
  // so the SNAT gives each later client another port.
  for (let r = 0; r < SHARED_ROUNDS; r++) for (const client of CLIENTS) await connect(client, FIRST_PORT + r);
  // porthole's own change of the forwards keeps the ended flows (only live ones are deleted).
  await lab.writeSpec(spec(["{ name: other, port: 8001, peer: rpi, targetPort: 9001 }"]));
  await lab.applyBoth();
  // Each client reopening its own port, round after round, within the peer's TIME_WAIT.
  for (let r = 0; r < REOPEN_ROUNDS; r++)
    for (const [i, client] of CLIENTS.entries()) await connect(client, FIRST_PORT + 100 + i);
  // Crossed: every client reopens the one port all of them share, round after round. As the hub's
  // address, each round remaps the clients after the first to other ports and frees the ones they had.
  if (variant !== "hub address")
    for (let r = 0; r < REOPEN_ROUNDS; r++)
      for (const client of CLIENTS) await connect(client, FIRST_PORT + 200);

  const drops = (await pawsDrops(lab.world)) - before;
  assert.equal(drops, 0, `the peer dropped ${drops} SYNs as old duplicates (PAWS)`);
  assert.deepEqual(slow, []);
  if (variant === "hub address")
    assert.deepEqual(
      await forgottenPorts(lab.world),
      [],
      "SNAT ports the hub freed while the peer holds them",
    );
  // The pool: the peer tells the clients apart, each by its own address (its TIME_WAIT sockets too).
  if (variant === "pool") {
    const far = new Set((await timeWaits(lab.world)).map((f) => f.replace(/:\d+$/, "")));
    assert.deepEqual([...far].sort(), CLIENTS.map((c) => onPeer(c)).sort());
  }
  // The server closed first, so the peer holds TIME_WAIT sockets: the situation the test is about happened.
  const tw = (await timeWaits(lab.world)).length;
  assert.ok(tw >= SHARED_ROUNDS + CLIENTS.length, `the peer holds ${tw} TIME_WAIT sockets`);
}

for (const [variant, backend] of [
  ["pool", "nftables"],
  ["pool", "iptables"],
  ["hub address", "nftables"],
  ["transparent", "nftables"],
] as const) {
  test(`several clients sharing and reopening source ports: the peer drops no SYN as stale (${variant}, ${backend})`, async (t) => {
    const mode = variant === "transparent" ? "transparent" : "snat";
    await withLab(t, `pw${variant[0]}${backend[0]}`, { backend }, async (lab) => {
      await startWhoami(lab, ["first-fin:9000", "tcp:9001"]);
      const spec = (extra: string[]) => {
        const text = specWith(lab, backend, mode, [
          `{ name: busy, port: 8000, peer: rpi, targetPort: 9000, mode: ${mode} }`,
          ...extra,
        ]);
        const off = text.replace(/^ {2}snatPool: .*$/m, "  snatPool: off");
        assert.notEqual(off, text, "the lab's spec has a snatPool line");
        return variant === "hub address" ? off : text;
      };
      await lab.writeSpec(spec([]));
      await lab.applyBoth();
      await rounds(lab, variant, spec);
    });
  });
}
