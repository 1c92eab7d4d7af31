// porthole trace's pure part on `nft monitor trace` output captured in the lab
// (test/fixtures/trace/capture.ts): lines to events, events to packets, packets to the text a user reads.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { onePort } from "../../src/cli/port-args.ts";
import { skipTable } from "../../src/host/foreign.ts";
import { parseHeaders, parseTraceLine, tcpFlags } from "../../src/trace/events.ts";
import { chainHooks, PacketAssembler, type TracedPacket } from "../../src/trace/packets.ts";
import { chainName, renderPacket, summarize } from "../../src/trace/render.ts";
import { traceScript, traceTable, traceTablePids } from "../../src/trace/script.ts";

const dir = join(import.meta.dirname, "../fixtures/trace");
const TABLE = "porthole_trace_1_4242";

function packetsOf(name: string, quiet = false): TracedPacket[] {
  const hooks = chainHooks(readFileSync(join(dir, `${name}.chains.json`), "utf8"));
  const a = new PacketAssembler(TABLE, hooks);
  const out: TracedPacket[] = [];
  for (const line of readFileSync(join(dir, `${name}.trace`), "utf8").split("\n")) {
    const e = parseTraceLine(line);
    if (e) out.push(...a.push(e, 0));
  }
  return quiet ? out : [...out, ...a.end()];
}

const text = (ps: TracedPacket[]) => ps.map((p, i) => renderPacket(p, i + 1)).join("\n");

test("trace lines: packet, rule, policy and return events; anything else is not an event", () => {
  const packet = parseTraceLine(
    'trace id 4ca42f9b inet porthole forward packet: iif "ens3" oif "wg0" ether saddr 7a:a2:9c:15:ab:36 ether daddr 8a:fc:29:5d:e5:d3 ip saddr 203.0.113.2 ip daddr 10.8.0.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 5816 ip protocol tcp ip length 60 tcp sport 50748 tcp dport 8080 tcp flags == syn tcp window 64240 ',
  );
  assert.deepEqual(packet, {
    id: "4ca42f9b",
    family: "inet",
    table: "porthole",
    chain: "forward",
    kind: "packet",
    headers: {
      family: 4,
      iif: "ens3",
      oif: "wg0",
      proto: "tcp",
      saddr: "203.0.113.2",
      daddr: "10.8.0.2",
      sport: 50748,
      dport: 8080,
      flags: ["SYN"],
    },
  });
  assert.deepEqual(
    parseTraceLine(
      'trace id 4ca42f9b inet porthole forward rule oifname "wg0" goto into_tunnel (verdict goto into_tunnel)',
    ),
    {
      id: "4ca42f9b",
      family: "inet",
      table: "porthole",
      chain: "forward",
      kind: "rule",
      rule: 'oifname "wg0" goto into_tunnel',
      verdict: "goto into_tunnel",
    },
  );
  const policy = parseTraceLine("trace id 1 inet firewalld filter_FORWARD policy drop meta mark 0x00000001");
  assert.equal(policy?.kind === "policy" && policy.verdict, "drop");
  assert.equal(parseTraceLine("trace id 1 ip filter DOCKER verdict continue")?.kind, "return");
  assert.equal(parseTraceLine("table inet porthole_trace_1_2 { # progname nft"), null);
  assert.equal(parseTraceLine(""), null);
});

test("trace headers: IPv6, UDP, iptables-nft's lines without `ip protocol`, flags by name or number", () => {
  assert.deepEqual(
    parseHeaders(
      'iif "ens3" ip6 saddr 2001:db8::2 ip6 daddr 2001:db8::1 ip6 dscp cs0 ip6 nexthdr udp ip6 length 40 udp sport 5353 udp dport 53 udp length 40',
    ),
    {
      family: 6,
      iif: "ens3",
      proto: "udp",
      saddr: "2001:db8::2",
      daddr: "2001:db8::1",
      sport: 5353,
      dport: 53,
    },
  );
  const xt = parseHeaders(
    'iif "ens3" ip saddr 203.0.113.2 ip daddr 203.0.113.1 ip ttl 64 ip length 60 tcp sport 54558 tcp dport 80 tcp flags == 0x12 tcp window 64240',
  );
  assert.equal(xt.proto, "tcp");
  assert.equal(xt.dport, 80);
  assert.deepEqual(xt.flags, ["SYN", "ACK"]);
  assert.deepEqual(tcpFlags("0x18"), ["PSH", "ACK"]);
  assert.deepEqual(tcpFlags("fin | ack"), ["FIN", "ACK"]);
});

test("trace, healthy lab: the first packet's whole path (DNAT, forward accept, SNAT, out wg0), the reply, later packets by conntrack", () => {
  const ps = packetsOf("healthy");
  assert.equal(ps.length, 10, "the request's 10 packets, both ways");
  const [syn, synAck, ack] = ps as [TracedPacket, TracedPacket, TracedPacket];
  assert.deepEqual(
    syn.visits.map((v) => `${v.hook} ${v.table} ${v.chain} ${v.verdict}`),
    [
      "prerouting porthole gate accept",
      "prerouting porthole prerouting accept",
      "forward porthole forward accept",
      "postrouting porthole postrouting accept",
    ],
  );
  assert.equal(
    renderPacket(syn, 1),
    [
      "#1 in ens3: tcp 203.0.113.2:35496 → 203.0.113.1:80 SYN",
      "   prerouting   porthole's chain gate: accept (policy)",
      "   prerouting   porthole's chain prerouting: accept, DNAT to 10.8.0.2:8080",
      '                  rule: iifname "ens3" meta nfproto ipv4 tcp dport @opened_tcp dnat ip to meta l4proto . tcp dport map @dnat4',
      "   forward      porthole's chain forward → into_tunnel: accept",
      "                  rule: ct status dnat ip daddr . meta l4proto . th dport @targets4 accept",
      "   postrouting  porthole's chain postrouting: accept, SNAT to 10.8.0.1:31161",
      '                  rule: oifname "wg0" ct status dnat ip daddr . meta l4proto . th dport @snat4 snat ip to 10.8.0.1',
      "   out wg0: tcp 10.8.0.1:31161 → 10.8.0.2:8080",
    ].join("\n"),
  );
  assert.equal(synAck.direction, "reply");
  assert.match(
    renderPacket(synAck, 2),
    /^#2 reply in wg0: tcp 10\.8\.0\.2:8080 → 10\.8\.0\.1:31161 SYN-ACK\n[\s\S]*→ out_of_tunnel: accept\n[\s\S]*out ens3: tcp 203\.0\.113\.1:80 → 203\.0\.113\.2:35496 \(the flow's NAT reversed by conntrack\)$/,
  );
  assert.match(
    renderPacket(ack, 3),
    /out wg0: tcp 10\.8\.0\.1:31161 → 10\.8\.0\.2:8080 \(DNAT and SNAT by conntrack, as for the flow's first packet\)$/,
  );
  assert.doesNotMatch(
    renderPacket(ack, 3),
    /prerouting +porthole's chain prerouting/,
    "no NAT chain for later packets",
  );
  assert.deepEqual(summarize(ps), ["6 left by wg0", "4 left by ens3 (replies)"]);
});

test("trace, a firewalld-like table drops the forward: the packet's path ends at its chain, named as status names it", () => {
  const ps = packetsOf("firewalld");
  assert.equal(ps.length, 2, "the SYN and its retransmission");
  for (const p of ps) {
    assert.equal(p.end.kind, "dropped");
    assert.match(
      text([p]),
      /forward {6}porthole's chain forward → into_tunnel: accept\n.*\n {3}forward {6}nft table inet firewalld chain filter_FORWARD: DROP \(policy\)\n {3}DROPPED by nft table inet firewalld chain filter_FORWARD \(policy drop\)/,
    );
  }
  assert.deepEqual(summarize(ps), [
    "2 dropped by nft table inet firewalld chain filter_FORWARD (policy drop)",
  ]);
});

test("trace, a drop outside nftables (iptables-legacy): the packet is not seen again after the last chain that saw it", () => {
  const ps = packetsOf("legacy-drop");
  assert.equal(ps.length, 1);
  assert.equal(
    renderPacket(ps[0] as TracedPacket, 1, { unseenHint: "HINT" })
      .split("\n")
      .at(-1),
    "   not seen again after prerouting (porthole's chain prerouting: accept): no nftables rule dropped it and it did not leave; HINT",
  );
  assert.match(
    text(ps),
    /porthole's chain prerouting: accept, DNAT$/m,
    "the DNAT rule ran; its result was not seen",
  );
  // While the trace runs, only quiet time ends such a packet.
  assert.equal(packetsOf("legacy-drop", true).length, 0);
});

test("trace, iptables backend (iptables-nft): porthole's PORTHOLE-* chains under the built-in ones, DNAT and SNAT by their rules", () => {
  const [syn] = packetsOf("iptables-nft") as [TracedPacket];
  const t = renderPacket(syn, 1);
  assert.match(
    t,
    /prerouting {3}iptables-nft nat PREROUTING → PORTHOLE-PREROUTING: accept, DNAT to 10\.8\.0\.2:8080\n {18}rule: iifname "ens3" tcp dport 80 counter dnat to 10\.8\.0\.2:8080\n/,
  );
  assert.match(t, /forward {6}iptables-nft filter FORWARD → PORTHOLE-FORWARD: accept\n/);
  assert.match(
    t,
    /postrouting {2}iptables-nft nat POSTROUTING → PORTHOLE-POSTROUTING: accept, SNAT to 10\.8\.0\.1:\d+\n/,
  );
  assert.match(t, /prerouting {3}iptables-nft mangle PREROUTING: accept \(policy, after PORTHOLE-GATE\)/);
  assert.match(t, /out wg0: tcp 10\.8\.0\.1:\d+ → 10\.8\.0\.2:8080$/);
  assert.doesNotMatch(t, /packets \d+ bytes/, "iptables-nft's running counts are left out");
});

test("trace packets: interleaved ids are kept apart; a reused id or quiet time ends a packet not seen again", () => {
  const lines = readFileSync(join(dir, "healthy.trace"), "utf8").split("\n");
  // The first packet's lines: up to seen_out's verdict (the kernel reuses its id later).
  const id = lines[0]?.split(" ")[2] as string;
  const end = lines.findIndex((l) => l.includes(`${TABLE} seen_out policy`));
  const first = lines.slice(0, end + 1).filter((l) => l.startsWith(`trace id ${id} `));
  const hooks = chainHooks(readFileSync(join(dir, "healthy.chains.json"), "utf8"));
  // Two packets, their events alternating (two CPUs): the same path each.
  const other = first.map((l) => l.replace(/^trace id [0-9a-f]+/, "trace id 00000001"));
  const a = new PacketAssembler(TABLE, hooks);
  const done: TracedPacket[] = [];
  first.forEach((l, i) => {
    for (const x of [l, other[i] as string]) {
      const e = parseTraceLine(x);
      if (e) done.push(...a.push(e, 0));
    }
  });
  assert.equal(done.length, 2);
  assert.equal(text([done[0] as TracedPacket]), text([done[1] as TracedPacket]));
  assert.equal(done[0]?.end.kind, "out");
  // A packet whose events stop: the next packet with its id closes it; else the quiet time.
  const b = new PacketAssembler(TABLE, hooks);
  const cut = first
    .slice(0, 8)
    .map((l) => parseTraceLine(l))
    .filter((e) => e !== null);
  for (const e of cut) assert.deepEqual(b.push(e, 0), []);
  assert.deepEqual(b.flush(500, 1000), [], "not quiet long enough");
  const [lost] = b.flush(1000, 1000);
  assert.equal(lost?.end.kind, "unseen");
  for (const e of cut) b.push(e, 2000);
  const [closed] = b.push(cut[0] as NonNullable<(typeof cut)[0]>, 2001);
  assert.equal(closed?.end.kind, "unseen", "a new packet with the same id ends the old one");
});

test("trace table: one transaction with flags owner, tags both directions of one port, named by both pids", () => {
  const s = traceScript("porthole_trace_10_11", ["tcp", "udp"], 27015);
  assert.doesNotMatch(s, /\n/, "one line: one transaction in nft -i");
  assert.match(s, /^add table inet porthole_trace_10_11 \{ flags owner; \}/);
  assert.match(
    s,
    /tag_in meta l4proto \{ tcp, udp \} th dport 27015 fib daddr type local meta nftrace set 1/,
  );
  assert.match(
    s,
    /tag_reply ct direction reply ct status dnat meta l4proto \{ tcp, udp \} ct original proto-dst 27015/,
  );
  assert.match(traceScript("t", ["tcp"], 80), /tag_in meta l4proto tcp th dport 80 /);
  assert.equal(traceTable(10, 11), "porthole_trace_10_11");
  assert.deepEqual(traceTablePids("porthole_trace_10_11"), { tracer: 10, nft: 11 });
  assert.equal(traceTablePids("porthole"), null);
  assert.equal(skipTable("inet", "porthole_trace_10_11", ["seen_in"]), true, "not a foreign firewall");
});

test("trace target and chain names: PORT[:PROTO] or a usage error naming the value; chains as status names them", () => {
  const parseTraceTarget = onePort("PORT");
  assert.deepEqual(parseTraceTarget("80"), { port: 80, protos: null });
  assert.deepEqual(parseTraceTarget("53:udp"), { port: 53, protos: ["udp"] });
  assert.deepEqual(parseTraceTarget("27015:tcp+udp"), { port: 27015, protos: ["tcp", "udp"] });
  for (const [bad, why] of [
    ["0", '"0" is out of range; accepted: 1-65535'],
    ["65536", '"65536" is out of range; accepted: 1-65535'],
    ["80-90", '"80-90" is not accepted; expected a whole number 1-65535'],
    ["80:icmp", 'protocol "icmp" is not accepted; use one of: tcp, udp, tcp+udp'],
    ["http", '"http" is not accepted; expected a whole number 1-65535'],
  ])
    assert.throws(
      () => parseTraceTarget(bad as string),
      (e: Error) => e.message === `PORT: ${why}`,
    );
  assert.equal(chainName({ family: "ip", table: "filter", chain: "FORWARD" }), "iptables-nft filter FORWARD");
  assert.equal(
    chainName({ family: "ip6", table: "nat", chain: "POSTROUTING" }),
    "ip6tables-nft nat POSTROUTING",
  );
  assert.equal(chainName({ family: "inet", table: "porthole", chain: "gate" }), "porthole's chain gate");
});
