// `porthole import wg-quick` on configs shaped like the ones real hubs run: the blog post's, PiVPN's,
// wireguard-install's (angristan and Nyr), wg-easy's, and one grown by hand. Every import must
// validate, keep every peer's address, and list what it does not carry.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { importWgQuick } from "../../src/spec/import-wgquick.ts";
import { validate } from "../../src/spec/validate.ts";

const dir = join(import.meta.dirname, "wg-quick");
function imported(file: string, interfaceName = "wg0") {
  const r = importWgQuick(readFileSync(join(dir, file), "utf8"), {
    endpoint: "vps.example.com",
    interfaceName,
  });
  const data = parse(r.yaml);
  const v = validate(data);
  assert.ok(v.ok, `${file}: the imported spec does not validate: ${JSON.stringify(!v.ok && v.problems)}`);
  return { ...r, data, spec: v.spec };
}
const addresses = (data: { peers: { name: string; address: string; address6?: string }[] }) =>
  Object.fromEntries(data.peers.map((p) => [p.name, p.address6 ? `${p.address} ${p.address6}` : p.address]));
const has = (notes: string[], re: RegExp) =>
  assert.ok(
    notes.some((n) => re.test(n)),
    `no note matches ${re}:\n${notes.join("\n")}`,
  );

test("the blog post's hub: its DNAT becomes a forward on ens3, its SNAT and FORWARD lines are porthole's own", () => {
  const { data, notes } = imported("seed.conf");
  assert.deepEqual(addresses(data), { peer1: "10.8.0.2", peer2: "10.8.0.3" });
  assert.equal(data.hub.listenPort, 42069);
  assert.equal(data.hub.publicInterface, "ens3");
  assert.deepEqual(data.forwards, [
    { name: "peer1-tcp-80", proto: "tcp", port: 80, peer: "peer1", targetPort: 8080 },
  ]);
  assert.deepEqual(notes, [], "everything in the blog post's config is carried");
  assert.match(data.hub.publicKey, /^[A-Za-z0-9+/]{43}=$/);
  assert.doesNotMatch(JSON.stringify(data), /sEghlpvaB7jIL/, "the private key is never copied");
});

test("PiVPN: names from `### begin NAME ###`, end markers are not names, IPv6 becomes subnet6 and peer addresses", () => {
  const { data, notes } = imported("pivpn.conf");
  assert.deepEqual(addresses(data), {
    laptop: "10.6.0.2 fd11:5ee:bad:c0de::2",
    phone: "10.6.0.3 fd11:5ee:bad:c0de::3",
  });
  assert.equal(data.hub.subnet6, "fd11:5ee:bad:c0de::/64");
  assert.equal(data.hub.address6, "fd11:5ee:bad:c0de::1");
  assert.equal(data.hub.mtu, 1420);
  has(notes, /^peer laptop: PresharedKey is not carried: .*remove it from laptop's own config/);
  has(notes, /^peer phone: PresharedKey is not carried/);
  assert.equal(notes.length, 2);
});

test("wireguard-install (angristan): `### Client NAME`; the road-warrior NAT and INPUT accept are listed, not dropped", () => {
  const { data, notes } = imported("wireguard-install.conf");
  assert.deepEqual(Object.keys(addresses(data)), ["alice", "bob"]);
  assert.equal(data.hub.listenPort, 49503);
  has(
    notes,
    /PostUp `iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE` is not carried: .*internet gateway/,
  );
  has(notes, /PostUp `ip6tables -t nat -A POSTROUTING -o eth0 -j MASQUERADE` is not carried/);
  has(
    notes,
    /PostUp `iptables -I INPUT -p udp --dport 49503 -j ACCEPT` is not carried: porthole adds no INPUT accepts/,
  );
  assert.ok(!notes.some((n) => /FORWARD/.test(n)), "FORWARD accepts for the tunnel are porthole's own");
});

test("wireguard-install (Nyr): BEGIN_PEER names with a dash, END_PEER and the header comments are not names", () => {
  const { data } = imported("nyr.conf");
  assert.deepEqual(addresses(data), {
    nas: "10.7.0.2 fddd:2c4:2c4:2c4::2",
    "pi-hole": "10.7.0.3 fddd:2c4:2c4:2c4::3",
  });
});

test("wg-easy: `# Client: NAME (id)` names, made unique; `# Server` and the notice are not names; empty hooks are not notes", () => {
  const { data, notes } = imported("wg-easy.conf");
  assert.deepEqual(addresses(data), { "mum-s-phone": "10.8.0.2", "mum-s-phone-2": "10.8.0.3" });
  has(notes, /iptables -t nat -A POSTROUTING -s 10.8.0.0\/24 -o eth0 -j MASQUERADE` is not carried/);
  assert.ok(!notes.some((n) => /PreUp|PreDown/.test(n)), notes.join("\n"));
});

test("a hand-grown config: inline comments, repeated keys, ranges, udp+tcp, LANs and unknown hooks", () => {
  const { data, notes } = imported("by-hand.conf");
  // `AllowedIPs = 10.8.0.9/32 # the NAS` keeps its address (it used to move the peer and drop its DNAT).
  assert.deepEqual(addresses(data), { "gaming-box": "10.8.0.5", "the-nas": "10.8.0.9", peer3: "10.8.0.2" });
  assert.equal(data.hub.address, "10.8.0.1");
  const forwards = Object.fromEntries(
    data.forwards.map(
      (f: { name: string; proto: string; port: unknown; peer: string; targetPort: unknown }) => [
        f.name,
        `${f.proto} ${f.port} -> ${f.peer}:${f.targetPort}`,
      ],
    ),
  );
  assert.deepEqual(forwards, {
    "the-nas-tcp-2222": "tcp 2222 -> the-nas:22",
    "the-nas-tcp-udp-443": "tcp+udp 443 -> the-nas:8443",
    "gaming-box-udp-27015-27020": "udp 27015-27020 -> gaming-box:27015-27020",
    "the-nas-tcp-80": "tcp 80 -> the-nas:80",
    "the-nas-tcp-8080": "tcp 8080 -> the-nas:8080",
  });
  assert.equal(data.hub.publicInterface, undefined, "DNAT rules disagree on -i: keep auto");
  has(notes, /\[Interface\] DNS = 1\.1\.1\.1 is not carried/);
  has(notes, /\[Interface\] Address 10\.8\.1\.1\/24 is not carried/);
  has(notes, /peer the-nas: AllowedIPs 192\.168\.1\.0\/24 is not carried: .*LAN/);
  has(notes, /peer peer3: AllowedIPs 10\.8\.0\.0\/24 is not carried/);
  has(notes, /peer peer3: AllowedIPs has no address in 10\.8\.0\.0\/24; given 10\.8\.0\.2/);
  has(notes, /peer gaming-box: Endpoint 198\.51\.100\.7:51820 is not carried/);
  has(notes, /PostUp `nft add rule inet filter input tcp dport 9090 accept` is not carried/);
  has(notes, /DNAT to 192\.168\.1\.20 is not carried/);
  assert.ok(
    !notes.some((n) => /ip_forward|MASQUERADE/.test(n)),
    "ip_forward and SNAT into the tunnel are porthole's own",
  );
  assert.ok(!notes.some((n) => /SNAT into the tunnel: imported as mode snat/.test(n)));
});

test("DNAT without SNAT into the tunnel is imported as snat, and the note says how to keep client addresses", () => {
  const text = readFileSync(join(dir, "seed.conf"), "utf8").replace(
    /; iptables -t nat -A POSTROUTING[^\n]*/,
    "",
  );
  const r = importWgQuick(text, { endpoint: "vps.example.com", interfaceName: "wg0" });
  assert.ok(
    r.notes.some((n) => /no SNAT into the tunnel: imported as mode snat.*mode: transparent/.test(n)),
    r.notes.join("\n"),
  );
});

test("a peer named with all 32 characters: its forwards' names are cut to fit, and the spec validates", () => {
  // Its DNAT for tcp and udp alike: one forward, tcp+udp.
  const text = readFileSync(join(dir, "seed.conf"), "utf8")
    .replace("[Peer]", "# grandmas-living-room-media-server\n[Peer]")
    .replace(
      "PostUp = iptables -A FORWARD",
      "PostUp = iptables -t nat -A PREROUTING -i ens3 -p udp --dport 80 -j DNAT --to-destination 10.8.0.2:8080\nPostUp = iptables -A FORWARD",
    );
  const r = importWgQuick(text, { endpoint: "vps.example.com", interfaceName: "wg0" });
  const data = parse(r.yaml);
  const v = validate(data);
  assert.ok(v.ok, `the imported spec does not validate: ${JSON.stringify(!v.ok && v.problems)}`);
  assert.equal(data.peers[0].name, "grandmas-living-room-media-serve");
  assert.deepEqual(
    data.forwards.map((f: { name: string; proto: string }) => [f.name, f.proto]),
    [["grandmas-living-room-tcp-udp-80", "tcp+udp"]],
  );
});

test("the tunnel is named from the file, as wg-quick does; %i in hooks is that name", () => {
  const text = readFileSync(join(dir, "seed.conf"), "utf8").replaceAll("wg0", "%i");
  const r = importWgQuick(text, { endpoint: "vps.example.com", interfaceName: "wg1" });
  const data = parse(r.yaml);
  assert.equal(data.hub.interface, "wg1");
  assert.ok(!r.notes.some((n) => /FORWARD|POSTROUTING/.test(n)), r.notes.join("\n"));
  const bad = importWgQuick(text, { endpoint: "vps.example.com", interfaceName: "my-very-long-backup" });
  assert.ok(bad.notes.some((n) => /"my-very-long-backup" is not an interface name/.test(n)));
  assert.equal(parse(bad.yaml).hub.interface, undefined);
});

test("the notes are also comments at the top of the spec, so they stay with it", () => {
  const { yaml, notes } = imported("pivpn.conf");
  for (const n of notes) assert.ok(yaml.includes(`# ${n}\n`));
});

test("a file that is not a wg-quick hub config is refused with the reason", () => {
  assert.throws(() => importWgQuick("[Peer]\nPublicKey = x\n"), /no \[Interface\] section/);
  assert.throws(() => importWgQuick("[Interface]\nAddress = 10.8.0.2/32\n"), /no IPv4 address with a prefix/);
});
