// Counters: read back from the kernel's listings, carried over a reload, conntrack lines counted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { carryIptablesCounters, carryNftCounters } from "../../src/host/firewall.ts";
import { openConnectionKey, parseDnatCounters, parseNftCounters } from "../../src/host/stats.ts";

const SCRIPT = `table inet porthole {
\tmap dnat4 {
\t\ttype inet_proto . inet_service : ipv4_addr . inet_service
\t\tcounter
\t\telements = {
\t\t\ttcp . 80 : 10.8.0.2 . 8080,
\t\t\ttcp . 81 : 10.8.0.2 . 8080,
\t\t}
\t}
\tset targets4 {
\t\ttype ipv4_addr . inet_proto . inet_service
\t\telements = {
\t\t\t80,
\t\t}
\t}
\tset traffic_tcp {
\t\ttype inet_service
\t\tcounter
\t\telements = {
\t\t\t80,
\t\t\t81,
\t\t}
\t}
}
`;

test("a reload carries each element's counters over, by key, into the sets and maps that count", () => {
  const counts = new Map([
    ["dnat4", new Map([["tcp . 80", { packets: 3, bytes: 180 }]])],
    ["traffic_tcp", new Map([["80", { packets: 40, bytes: 5000 }]])],
  ]);
  const out = carryNftCounters(SCRIPT, counts);
  assert.match(out, /^\t\t\ttcp \. 80 counter packets 3 bytes 180 : 10\.8\.0\.2 \. 8080,$/m);
  assert.match(out, /^\t\t\ttcp \. 81 : 10\.8\.0\.2 \. 8080,$/m);
  assert.match(out, /^\t\t\t80 counter packets 40 bytes 5000,$/m);
  assert.match(out, /^\t\t\t81,$/m);
  // targets4 does not count: its "80" stays as it was.
  assert.equal(out.match(/counter packets/g)?.length, 2);
  assert.equal(carryNftCounters(SCRIPT, new Map()), SCRIPT);
});

test("nft's JSON listing reads back as counters by key (maps by concatenation, sets by value)", () => {
  const map = `{"nftables": [{"metainfo": {}}, {"map": {"name": "dnat4", "elem": [[{"elem": {"val": {"concat": ["tcp", 80]}, "counter": {"packets": 7, "bytes": 400}}}, {"concat": ["10.8.0.2", 8080]}]]}}]}`;
  const set = `{"nftables": [{"set": {"name": "traffic_tcp", "elem": [{"elem": {"val": 80, "counter": {"packets": 5, "bytes": 300}}}]}}]}`;
  assert.deepEqual(parseNftCounters(map, "map"), [{ key: "tcp . 80", packets: 7, bytes: 400 }]);
  assert.deepEqual(parseNftCounters(set, "set"), [{ key: "80", packets: 5, bytes: 300 }]);
});

test("iptables DNAT rule counters read back and carry over a reload by protocol and port", () => {
  const save = [
    "*nat",
    ":PORTHOLE-PREROUTING - [0:0]",
    "[4:240] -A PORTHOLE-PREROUTING -i ens3 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.8.0.2:8080",
    "[1:60] -A PORTHOLE-PREROUTING -i ens3 -p udp -m udp --dport 53 -j DNAT --to-destination 10.8.0.2:5353",
    "[9:9] -A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2.9:80",
    "COMMIT",
  ].join("\n");
  const counts = parseDnatCounters(save);
  assert.deepEqual(counts, [
    { key: "tcp . 80", packets: 4, bytes: 240 },
    { key: "udp . 53", packets: 1, bytes: 60 },
  ]);
  const text = [
    "*nat",
    ":PORTHOLE-PREROUTING - [0:0]",
    "-A PORTHOLE-PREROUTING -i ens3 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.8.0.3:8080",
    "-A PORTHOLE-PREROUTING -i ens3 -p tcp -m tcp --dport 81 -j DNAT --to-destination 10.8.0.2:8080",
    "COMMIT",
  ].join("\n");
  const out = carryIptablesCounters(text, new Map(counts.map((c) => [c.key, c])));
  assert.match(out, /^\[4:240\] -A PORTHOLE-PREROUTING .*--dport 80 /m);
  assert.match(out, /^-A PORTHOLE-PREROUTING .*--dport 81 /m);
});

test("iptables without porthole's chain counts nothing: null (unknown), not no counters (zero)", () => {
  const other = ["*nat", ":PREROUTING ACCEPT [0:0]", "[9:9] -A PREROUTING -p tcp -j ACCEPT", "COMMIT"];
  assert.equal(parseDnatCounters(other.join("\n")), null);
  assert.deepEqual(parseDnatCounters("*nat\n:PORTHOLE-PREROUTING - [0:0]\nCOMMIT\n"), []);
});

test("conntrack lines count for a DNAT'd connection by public port and target; others not at all", () => {
  const dnat =
    "tcp      6 431999 ESTABLISHED src=198.51.100.7 dst=192.0.2.1 sport=40000 dport=80 src=10.8.0.2 dst=10.8.0.1 sport=8080 dport=40000 [ASSURED] mark=0 use=1";
  assert.equal(openConnectionKey(dnat), "tcp/80/10.8.0.2/8080");
  const udp =
    "udp      17 29 src=198.51.100.7 dst=192.0.2.1 sport=5000 dport=53 src=10.8.0.2 dst=198.51.100.7 sport=5353 dport=5000 mark=0 use=1";
  assert.equal(openConnectionKey(udp), "udp/53/10.8.0.2/5353");
  const local =
    "tcp      6 431999 ESTABLISHED src=10.8.0.2 dst=10.8.0.1 sport=40000 dport=51821 src=10.8.0.1 dst=10.8.0.2 sport=51821 dport=40000 [ASSURED] mark=0 use=1";
  assert.equal(openConnectionKey(local), null);
  assert.equal(
    openConnectionKey("conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown."),
    null,
  );
});
