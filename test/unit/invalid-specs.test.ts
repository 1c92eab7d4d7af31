// Invalid specs: each mistake gives its exact diagnostic lines (`file:line:col path: message`), all
// problems are reported at once, and omitted addresses are allocated inside the subnet, deterministically
// and stably.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { addrAt, contains, formatAddr, hostRange, offsetIn, parseAddr, parseCidr } from "../../src/net/ip.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { yaml } from "./helpers/yaml-text.ts";

const HUB = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const RPI = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const NAS = "2JG1PWVEz0KQu4ysL2AjVMNtrJ+wBkXAcYoCwK1Twgg=";
const PHONE = "8tZ8t7srlX7fv22SYtf0scrD56iMIa1yZ1D2rZ/N2BM=";

/** The seed's spec, valid; most cases below change one or two lines of it. */
const hub = (extra = "") =>
  `version: 1\nhub:\n  endpoint: 203.0.113.42\n  listenPort: 42069\n  publicKey: ${HUB}\n  publicInterface: ens3${extra}\n`;

/** The hub, a peer rpi (10.8.0.2), a device phone, and the given forwards. */
const FW = (strings: TemplateStringsArray, ...values: unknown[]) =>
  `${hub()}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    address: 10.8.0.2\n  - name: phone\n    kind: device\n    publicKey: ${PHONE}\nforwards:\n${String.raw({ raw: strings }, ...values)}`;

interface Case {
  name: string;
  text: string;
  expected: string[];
}

const CASES: Case[] = [
  {
    name: "YAML syntax: an unclosed flow sequence",
    text: yaml`
      version: 1
      hub:
        endpoint: 203.0.113.42
        publicKey: ${HUB}
      peers: [
    `,
    expected: [
      "porthole.yaml:6:1 (document): YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
  },
  {
    name: "YAML syntax: a duplicate key",
    text: yaml`
      version: 1
      hub:
        endpoint: 203.0.113.42
        endpoint: 203.0.113.43
        publicKey: ${HUB}
    `,
    expected: ["porthole.yaml:4:3 (document): YAML syntax: Map keys must be unique"],
  },
  {
    name: "YAML syntax: bad indentation",
    text: yaml`
      version: 1
      hub:
        endpoint: 203.0.113.42
         publicKey: ${HUB}
    `,
    expected: [
      "porthole.yaml:3:13 (document): YAML syntax: Nested mappings are not allowed in compact mappings",
      "porthole.yaml:3:13 (document): YAML syntax: Implicit keys need to be on a single line",
    ],
  },
  {
    name: "the document is a list, not a mapping",
    text: yaml`
      - hub
      - peers
    `,
    expected: ['porthole.yaml:1:1 (document): ["hub","peers"] is not accepted; expected a mapping of fields'],
  },
  {
    name: "an empty document",
    text: "# nothing here\n",
    expected: [
      "porthole.yaml (document): the file is empty; a spec needs at least a hub section with endpoint and publicKey",
    ],
  },
  {
    name: "an unsupported version",
    text: `${hub()}`.replace("version: 1", "version: 2"),
    expected: ["porthole.yaml:1:1 version: 2 is not accepted; use one of: 1"],
  },
  {
    name: "unknown top-level field, with did-you-mean",
    text: `${hub()}forward:\n  - name: share\n`,
    expected: [
      "porthole.yaml:7:1 forward: unknown field; did you mean forwards? accepted fields: version, hub, peers, forwards",
    ],
  },
  {
    name: "unknown hub field, with did-you-mean",
    text: hub("\n  listenport: 42069"),
    expected: [
      "porthole.yaml:7:3 hub.listenport: unknown field; did you mean listenPort? accepted fields: name, endpoint, listenPort, publicKey, publicInterface, interface, subnet, subnet6, address, address6, mtu, firewall, mesh, snatPool, sshPort, reservedPorts, apiPort, limits, metricsListen",
    ],
  },
  {
    name: "unknown peer field, with did-you-mean",
    text: `${hub()}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    keepAlive: 25\n`,
    expected: [
      "porthole.yaml:10:5 peers[0].keepAlive: unknown field; did you mean keepalive? accepted fields: name, publicKey, address, address6, keepalive, admin, kind",
    ],
  },
  {
    name: "unknown forward field, with did-you-mean",
    text: `${hub()}peers:\n  - name: rpi\n    publicKey: ${RPI}\nforwards:\n  - name: share\n    port: 80\n    peer: rpi\n    allow_from: [198.51.100.0/24]\n`,
    expected: [
      "porthole.yaml:14:5 forwards[0].allow_from: unknown field; did you mean allowFrom? accepted fields: name, proto, port, peer, targetPort, mode, allowFrom, shadowHubService",
    ],
  },
  {
    name: "unknown field, nothing close to it",
    text: hub("\n  colour: blue"),
    expected: [
      "porthole.yaml:7:3 hub.colour: unknown field; accepted fields: name, endpoint, listenPort, publicKey, publicInterface, interface, subnet, subnet6, address, address6, mtu, firewall, mesh, snatPool, sshPort, reservedPorts, apiPort, limits, metricsListen",
    ],
  },
  {
    name: "wrong type: a port as text",
    text: hub().replace("listenPort: 42069", 'listenPort: "42069"'),
    expected: ['porthole.yaml:4:3 hub.listenPort: "42069" is not accepted; expected a whole number'],
  },
  {
    name: "wrong type: a port with a fraction",
    text: hub().replace("listenPort: 42069", "listenPort: 42069.5"),
    expected: ["porthole.yaml:4:3 hub.listenPort: 42069.5 is not accepted; expected a whole number"],
  },
  {
    name: "wrong type: mesh as text",
    text: hub("\n  mesh: sometimes"),
    expected: ['porthole.yaml:7:3 hub.mesh: "sometimes" is not accepted; expected true or false'],
  },
  {
    name: "wrong type: peers as a mapping",
    text: `${hub()}peers:\n  rpi:\n    publicKey: ${RPI}\n`,
    expected: [
      'porthole.yaml:7:1 peers: {"rpi":{"publicKey":"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4... is not accepted; expected a list',
    ],
  },
  {
    name: "wrong type: hub as a list",
    text: yaml`
      version: 1
      hub:
        - endpoint: 203.0.113.42
    `,
    expected: [
      'porthole.yaml:2:1 hub: [{"endpoint":"203.0.113.42"}] is not accepted; expected a mapping of fields',
    ],
  },
  {
    name: "missing required fields",
    text: yaml`
      version: 1
      hub:
        listenPort: 42069
      peers:
        - address: 10.8.0.2
    `,
    expected: [
      "porthole.yaml:2:1 hub.endpoint: is required",
      "porthole.yaml:2:1 hub.publicKey: is required",
      "porthole.yaml:5:5 peers[0].name: is required",
      "porthole.yaml:5:5 peers[0].publicKey: is required",
    ],
  },
  {
    name: "a value not in the accepted list",
    text: `${hub("\n  firewall: pf")}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    kind: server\nforwards:\n  - name: share\n    proto: sctp\n    port: 80\n    peer: rpi\n    mode: masquerade\n`,
    expected: [
      'porthole.yaml:7:3 hub.firewall: "pf" is not accepted; use one of: nftables, iptables',
      'porthole.yaml:11:5 peers[0].kind: "server" is not accepted; use one of: agent, device',
      'porthole.yaml:14:5 forwards[0].proto: "sctp" is not accepted; use one of: tcp, udp, tcp+udp',
      'porthole.yaml:17:5 forwards[0].mode: "masquerade" is not accepted; use one of: snat, transparent',
    ],
  },
  {
    name: "bad keys: not base64, wrong length, not canonical",
    text: `${hub().replace(HUB, "my-hub-key")}peers:\n  - name: rpi\n    publicKey: ${RPI.slice(0, 40)}=\n  - name: nas\n    publicKey: ${NAS.slice(0, 42)}h=\n`,
    expected: [
      "porthole.yaml:5:3 hub.publicKey: \"my-hub-key\" is not a WireGuard key; expected 32 bytes in base64 (44 characters ending in '='), as `wg pubkey` prints",
      "porthole.yaml:9:5 peers[0].publicKey: \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp=\" is not a WireGuard key; expected 32 bytes in base64 (44 characters ending in '='), as `wg pubkey` prints",
      'porthole.yaml:11:5 peers[1].publicKey: "2JG1PWVEz0KQu4ysL2AjVMNtrJ+wBkXAcYoCwK1Twgh=" is not canonical base64',
    ],
  },
  {
    name: "duplicate keys: a peer with the hub's key, two peers with one key",
    text: `${hub()}peers:\n  - name: rpi\n    publicKey: ${HUB}\n  - name: nas\n    publicKey: ${NAS}\n  - name: nas2\n    publicKey: ${NAS}\n`,
    expected: [
      "porthole.yaml:9:5 peers[0].publicKey: is the same key as hub.publicKey; each peer needs its own key",
      "porthole.yaml:13:5 peers[2].publicKey: is the same key as peers[1].publicKey; each peer needs its own key",
    ],
  },
  {
    name: "bad CIDRs",
    text: hub("\n  subnet: 10.8.0/24\n  subnet6: fd00::/129"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "10.8.0/24" is not a network prefix; expected an address with a prefix length, like 10.8.0.0/24',
      'porthole.yaml:8:3 hub.subnet6: "fd00::/129" is not a network prefix; expected an address with a prefix length, like fd00:8::/64',
    ],
  },
  {
    // Every peer routes hub.subnet into its tunnel: the tunnel's own packets to the hub would go into it.
    name: "a tunnel subnet that holds the hub's endpoint",
    text: hub("\n  subnet: 203.0.113.0/24"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "203.0.113.0/24" holds the hub\'s endpoint 203.0.113.42, which the peers would route into the tunnel; use a prefix outside it, like 10.8.0.0/24',
    ],
  },
  {
    // Every peer routes hub.subnet into its tunnel: loopback, link-local or multicast there breaks it.
    name: "tunnel subnets in special-purpose ranges",
    text: hub("\n  subnet: 127.0.0.0/24"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "127.0.0.0/24" overlaps 127.0.0.0/8 (not a unicast range a peer routes); use a private prefix like 10.8.0.0/24',
    ],
  },
  {
    name: "SNAT pools that are not a unicast IPv4 prefix apart from the tunnel's",
    text: hub("\n  subnet: 10.8.0.0/16\n  snatPool: 10.8.128.0/17"),
    expected: [
      'porthole.yaml:8:3 hub.snatPool: "10.8.128.0/17" overlaps hub.subnet 10.8.0.0/16; use a prefix outside the tunnel\'s, like 240.0.0.0/8',
    ],
  },
  ...(
    [
      [
        "240.0.0.0/4",
        "overlaps 255.255.255.255/32 (not a unicast range a peer routes); use a prefix like 240.0.0.0/8",
      ],
      [
        "127.0.0.0/8",
        "overlaps 127.0.0.0/8 (not a unicast range a peer routes); use a prefix like 240.0.0.0/8",
      ],
      [
        "224.0.0.0/8",
        "overlaps 224.0.0.0/4 (not a unicast range a peer routes); use a prefix like 240.0.0.0/8",
      ],
      [
        "169.254.0.0/16",
        "overlaps 169.254.0.0/16 (not a unicast range a peer routes); use a prefix like 240.0.0.0/8",
      ],
      [
        "240.0.0.0/25",
        "is out of range; accepted: a prefix /4 to /24 (a client's low bits pick its address), like 240.0.0.0/8",
      ],
      ["fd00:9::/96", "is not IPv4; accepted: an IPv4 prefix /4 to /24, like 240.0.0.0/8"],
      ["240.0.0.1/8", "has host bits set; did you mean 240.0.0.0/8?"],
      [
        "203.0.0.0/8",
        "holds the hub's endpoint 203.0.113.42, which the peers would route into the tunnel; use a prefix outside it, like 240.0.0.0/8",
      ],
      [
        "none",
        'is not a network prefix; expected an address with a prefix length, like 240.0.0.0/8 (or "off")',
      ],
    ] as const
  ).map(([pool, why]) => ({
    name: `SNAT pool ${pool}`,
    text: hub(`\n  snatPool: ${pool}`),
    expected: [`porthole.yaml:7:3 hub.snatPool: "${pool}" ${why}`],
  })),
  {
    name: "explicit IPv6 addresses in the IPv6 part of the SNAT pool (the last 1/65536 of subnet6)",
    text: `${hub("\n  subnet6: fd00:8::/64\n  address6: fd00:8::ffff:0:0:1\n  snatPool: 240.0.0.0/8")}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    address6: fd00:8::ffff:1:2:3\n`,
    expected: [
      'porthole.yaml:8:3 hub.address6: "fd00:8::ffff:0:0:1" is in fd00:8:0:0:ffff::/80, where the hub maps IPv6 snat clients (hub.snatPool); pick an address outside it',
      'porthole.yaml:13:5 peers[0].address6: "fd00:8::ffff:1:2:3" is in fd00:8:0:0:ffff::/80, where the hub maps IPv6 snat clients (hub.snatPool); pick an address outside it',
    ],
  },
  {
    name: "a subnet without a prefix length",
    text: hub("\n  subnet: 10.8.0.0"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "10.8.0.0" is not a network prefix; expected an address with a prefix length, like 10.8.0.0/24',
    ],
  },
  {
    name: "host bits set in the subnets",
    text: hub("\n  subnet: 10.8.0.1/24\n  subnet6: fd00:8::1/64"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "10.8.0.1/24" has host bits set; did you mean 10.8.0.0/24?',
      'porthole.yaml:8:3 hub.subnet6: "fd00:8::1/64" has host bits set; did you mean fd00:8::/64?',
    ],
  },
  {
    name: "a subnet too small for a hub and peers",
    text: hub("\n  subnet: 10.8.0.0/31"),
    expected: [
      'porthole.yaml:7:3 hub.subnet: "10.8.0.0/31" is too small for a hub and peers; accepted: a prefix of /30 or larger',
    ],
  },
  {
    name: "an IPv6 prefix in subnet",
    text: hub("\n  subnet: fd00:8::/64"),
    expected: ['porthole.yaml:7:3 hub.subnet: "fd00:8::/64" is not IPv4; put IPv6 in hub.subnet6'],
  },
  {
    name: "a public (non-ULA) IPv6 subnet6",
    text: hub("\n  subnet6: 2001:db8::/64"),
    expected: [
      'porthole.yaml:7:3 hub.subnet6: "2001:db8::/64" is not accepted; use a private (ULA) prefix inside fc00::/7, /120 or larger, like fd00:8::/64',
    ],
  },
  {
    name: "an IPv6 subnet6 too small",
    text: hub("\n  subnet6: fd00:8::/124"),
    expected: [
      'porthole.yaml:7:3 hub.subnet6: "fd00:8::/124" is not accepted; use a private (ULA) prefix inside fc00::/7, /120 or larger, like fd00:8::/64',
    ],
  },
  {
    name: "two YAML documents in one file",
    text: `${hub()}---\n${hub()}`,
    expected: [
      "porthole.yaml:7:1 (document): a second YAML document starts here; a spec is a single document, so remove it or merge it into the first",
    ],
  },
  {
    name: "addresses outside the subnet, network, broadcast, not an address",
    text: `${hub("\n  address: 10.9.0.1")}`,
    expected: ['porthole.yaml:7:3 hub.address: "10.9.0.1" is outside hub.subnet 10.8.0.0/24'],
  },
  {
    name: "peer addresses: outside, network, broadcast, not an address, the hub's, a duplicate",
    text: `${hub()}peers:\n  - name: a\n    publicKey: ${RPI}\n    address: 192.168.1.2\n  - name: b\n    publicKey: ${NAS}\n    address: 10.8.0.0\n  - name: c\n    publicKey: ${PHONE}\n    address: 10.8.0.255\n  - name: d\n    publicKey: Rk1X6ACbt875mXOQctiudjgIWvn+F2WzSt7BCztxyCs=\n    address: 10.8.0.300\n  - name: e\n    publicKey: PR4ZeS2sTcdHSYWHQGaWk/1I1NpXILWVafJPor9C6Uo=\n    address: 10.8.0.1\n  - name: f\n    publicKey: gPdNop/00cUn+l0RDuappeCVpM5nlGnTwyqyu45Pbjk=\n    address: 10.8.0.7\n  - name: g\n    publicKey: gToxYvriDgSPK9E0E1cZbzT0DaFJLwybq3t81dF5MGA=\n    address: 10.8.0.7\n`,
    expected: [
      'porthole.yaml:10:5 peers[0].address: "192.168.1.2" is outside hub.subnet 10.8.0.0/24',
      'porthole.yaml:13:5 peers[1].address: "10.8.0.0" is the network or broadcast address of 10.8.0.0/24; pick a host address',
      'porthole.yaml:16:5 peers[2].address: "10.8.0.255" is the network or broadcast address of 10.8.0.0/24; pick a host address',
      'porthole.yaml:19:5 peers[3].address: "10.8.0.300" is not an IPv4 address',
      'porthole.yaml:22:5 peers[4].address: "10.8.0.1" is already taken by hub.address',
      'porthole.yaml:28:5 peers[6].address: "10.8.0.7" is already taken by peers[5].address',
    ],
  },
  {
    name: "address6 without subnet6",
    text: `${hub("\n  address6: fd00:8::1")}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    address6: fd00:8::2\n`,
    expected: [
      "porthole.yaml:7:3 hub.address6: needs hub.subnet6",
      "porthole.yaml:11:5 peers[0].address6: needs hub.subnet6",
    ],
  },
  {
    name: "no free address left in the subnet",
    text: `${hub("\n  subnet: 10.8.0.0/30")}peers:\n  - name: a\n    publicKey: ${RPI}\n  - name: b\n    publicKey: ${NAS}\n`,
    expected: ["porthole.yaml:11:5 peers[1].address: no free address left in 10.8.0.0/30; widen hub.subnet"],
  },
  {
    name: "duplicate and invalid peer names; a peer named like the hub",
    text: `${hub()}peers:\n  - name: rpi\n    publicKey: ${RPI}\n  - name: rpi\n    publicKey: ${NAS}\n  - name: Pi_1\n    publicKey: ${PHONE}\n  - name: hub\n    publicKey: Rk1X6ACbt875mXOQctiudjgIWvn+F2WzSt7BCztxyCs=\n`,
    expected: [
      'porthole.yaml:10:5 peers[1].name: "rpi" is already used by peers[0]',
      "porthole.yaml:12:5 peers[2].name: \"Pi_1\" is not a valid name; use 1-32 lowercase letters, digits or '-', not starting or ending with '-'",
      'porthole.yaml:14:5 peers[3].name: "hub" is the hub\'s name; pick another',
    ],
  },
  {
    name: "keepalive out of range",
    text: `${hub()}peers:\n  - name: rpi\n    publicKey: ${RPI}\n    keepalive: 70000\n`,
    expected: [
      "porthole.yaml:10:5 peers[0].keepalive: 70000 is out of range; accepted: 0 (off) to 65535 seconds",
    ],
  },
  {
    name: "hub.metricsListen: a name instead of an address, a port out of range",
    text: yaml`
      version: 1
      hub:
        endpoint: 203.0.113.42
        publicKey: ${HUB}
        metricsListen: localhost:9851
    `,
    expected: [
      'porthole.yaml:5:3 hub.metricsListen: "localhost:9851" is not accepted; give an IP address and port like 127.0.0.1:9851 or [::1]:9851, or "off"',
    ],
  },
  {
    name: "hub.metricsListen: port out of range",
    text: yaml`
      version: 1
      hub:
        endpoint: 203.0.113.42
        publicKey: ${HUB}
        metricsListen: "[::1]:70000"
    `,
    expected: [
      'porthole.yaml:5:3 hub.metricsListen: "[::1]:70000" is not accepted; give an IP address and port like 127.0.0.1:9851 or [::1]:9851, or "off"',
    ],
  },
  {
    name: "hub: bad endpoint, bad mtu, bad interface names, ports out of range",
    text: yaml`
      version: 1
      hub:
        endpoint: vpn..example.com
        listenPort: 0
        sshPort: 70000
        publicKey: ${HUB}
        interface: wireguard-porthole0
        publicInterface: eth 0
        mtu: 576
    `,
    expected: [
      'porthole.yaml:3:3 hub.endpoint: "vpn..example.com" is not a host name or IP address (with an optional :port)',
      "porthole.yaml:4:3 hub.listenPort: 0 is out of range; accepted: 1-65535",
      "porthole.yaml:5:3 hub.sshPort: 70000 is out of range; accepted: 1-65535",
      "porthole.yaml:7:3 hub.interface: \"wireguard-porthole0\" is not an interface name; use 1-15 letters, digits, '_', '.', '-'",
      'porthole.yaml:8:3 hub.publicInterface: "eth 0" is not an interface name; use "auto" or a name like ens3',
      "porthole.yaml:9:3 hub.mtu: 576 is out of range; accepted: 1280-9000",
    ],
  },
  {
    name: "an endpoint with a port out of range",
    text: hub().replace("endpoint: 203.0.113.42", "endpoint: 203.0.113.42:99999"),
    expected: [
      'porthole.yaml:3:3 hub.endpoint: "203.0.113.42:99999" has port 99999, which is out of range; accepted: 1-65535',
    ],
  },
  {
    name: "endpoint that looks like a truncated IPv4 address",
    text: hub().replace("endpoint: 203.0.113.42", "endpoint: 203.0.113"),
    expected: [
      'porthole.yaml:3:3 hub.endpoint: "203.0.113" is not a host name or IP address (with an optional :port)',
    ],
  },
  {
    name: "the public interface is the WireGuard interface",
    text: hub().replace("publicInterface: ens3", "publicInterface: wg0"),
    expected: [
      'porthole.yaml:6:3 hub.publicInterface: "wg0" is the WireGuard interface; name the interface facing the internet',
    ],
  },
  {
    name: "an invalid hub name",
    text: hub("\n  name: -vps-"),
    expected: [
      "porthole.yaml:7:3 hub.name: \"-vps-\" is not a valid name; use 1-32 lowercase letters, digits or '-', not starting or ending with '-'",
    ],
  },
  {
    name: "forward ports out of range",
    text: FW`  - name: a\n    port: 0\n    peer: rpi\n  - name: b\n    port: 70000\n    peer: rpi\n  - name: c\n    port: 8080\n    peer: rpi\n    targetPort: 65536\n`,
    expected: [
      "porthole.yaml:16:5 forwards[0].port: 0 is out of range; expected a port 1-65535 or a range like 6000-6010",
      "porthole.yaml:19:5 forwards[1].port: 70000 is out of range; expected a port 1-65535 or a range like 6000-6010",
      "porthole.yaml:24:5 forwards[2].targetPort: 65536 is out of range; expected a port 1-65535 or a range like 6000-6010",
    ],
  },
  {
    name: "a port that is not a number or a range",
    text: FW`  - name: a\n    port: http\n    peer: rpi\n  - name: b\n    port: 6000-\n    peer: rpi\n  - name: c\n    port: [80]\n    peer: rpi\n`,
    expected: [
      'porthole.yaml:16:5 forwards[0].port: "http" is not a port 1-65535 or a range like 6000-6010',
      'porthole.yaml:19:5 forwards[1].port: "6000-" is not a port 1-65535 or a range like 6000-6010',
      "porthole.yaml:22:5 forwards[2].port: [80] is not accepted; expected a port 1-65535 or a range like 6000-6010",
    ],
  },
  {
    name: "a reversed range",
    text: FW`  - name: a\n    proto: udp\n    port: 6010-6000\n    peer: rpi\n`,
    expected: [
      'porthole.yaml:17:5 forwards[0].port: "6010-6000" is a reversed range; write it low-high, e.g. 6000-6010',
    ],
  },
  {
    name: "ranges of unequal length",
    text: FW`  - name: a\n    proto: udp\n    port: 6000-6010\n    peer: rpi\n    targetPort: 7000-7005\n  - name: b\n    port: 8000-8001\n    peer: rpi\n    targetPort: 9000\n`,
    expected: [
      'porthole.yaml:19:5 forwards[0].targetPort: "7000-7005" spans 6 ports but port 6000-6010 spans 11; ranges map 1:1, so give one of equal length',
      "porthole.yaml:23:5 forwards[1].targetPort: 9000 spans 1 port but port 8000-8001 spans 2; ranges map 1:1, so give one of equal length",
    ],
  },
  {
    name: "a forward on the hub's WireGuard port (udp), directly and inside a range",
    text: FW`  - name: a\n    proto: udp\n    port: 42069\n    peer: rpi\n  - name: b\n    proto: tcp+udp\n    port: 42060-42070\n    peer: rpi\n`,
    expected: [
      "porthole.yaml:17:5 forwards[0].port: 42069 is the hub's WireGuard listen port; pick another public port",
      'porthole.yaml:21:5 forwards[1].port: "42060-42070" includes 42069, the hub\'s WireGuard listen port; pick another public port',
    ],
  },
  {
    name: "the WireGuard port is udp only: tcp on the same number is fine, but ssh tcp/22 is not",
    text: FW`  - name: a\n    proto: tcp\n    port: 42069\n    peer: rpi\n  - name: ssh\n    port: 22\n    peer: rpi\n  - name: b\n    port: 20-30\n    peer: rpi\n`,
    expected: [
      "porthole.yaml:20:5 forwards[1].port: 22 is the hub's SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)",
      'porthole.yaml:23:5 forwards[2].port: "20-30" includes 22, the hub\'s SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)',
    ],
  },
  {
    name: "with hub.sshPort set, that port is protected instead of 22",
    text: FW`  - name: ssh\n    port: 22\n    peer: rpi\n  - name: b\n    port: 2222\n    peer: rpi\n`.replace(
      "publicInterface: ens3",
      "publicInterface: ens3\n  sshPort: 2222",
    ),
    expected: [
      "porthole.yaml:20:5 forwards[1].port: 2222 is the hub's SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)",
    ],
  },
  {
    name: "hub.reservedPorts: ports and ranges, tcp and udp alike; a bad entry is named by index",
    text: FW`  - name: a\n    port: 8443\n    peer: rpi\n  - name: b\n    proto: udp\n    port: 9000-9010\n    peer: rpi\n  - name: c\n    proto: tcp+udp\n    port: 7000-7100\n    peer: rpi\n  - name: d\n    port: 8444\n    peer: rpi\n`.replace(
      "publicInterface: ens3",
      'publicInterface: ens3\n  reservedPorts: [8443, "9005-9006", 70000, "7050", http]',
    ),
    expected: [
      "porthole.yaml:7:38 hub.reservedPorts[2]: 70000 is out of range; expected a port 1-65535 or a range like 6000-6010",
      'porthole.yaml:7:53 hub.reservedPorts[4]: "http" is not a port 1-65535 or a range like 6000-6010',
      "porthole.yaml:17:5 forwards[0].port: 8443 is reserved for the hub's own services (hub.reservedPorts); pick another public port",
      'porthole.yaml:21:5 forwards[1].port: "9000-9010" includes 9005, reserved for the hub\'s own services (hub.reservedPorts: 9005-9006); pick another public port',
      'porthole.yaml:25:5 forwards[2].port: "7000-7100" includes 7050, reserved for the hub\'s own services (hub.reservedPorts); pick another public port',
    ],
  },
  {
    name: "overlapping forwards, per protocol",
    text: FW`  - name: a\n    proto: udp\n    port: 6000-6010\n    peer: rpi\n  - name: b\n    proto: udp\n    port: 6005\n    peer: rpi\n  - name: c\n    proto: tcp+udp\n    port: 6010-6020\n    peer: rpi\n  - name: d\n    proto: tcp\n    port: 6015\n    peer: rpi\n`,
    expected: [
      "porthole.yaml:21:5 forwards[1].port: udp/6005 is already forwarded by forwards[0] (udp/6000-6010); each public port and protocol can have one forward",
      "porthole.yaml:25:5 forwards[2].port: udp/6010-6020 is already forwarded by forwards[0] (udp/6000-6010); each public port and protocol can have one forward",
      "porthole.yaml:29:5 forwards[3].port: tcp/6015 is already forwarded by forwards[2] (tcp/6010-6020); each public port and protocol can have one forward",
    ],
  },
  {
    name: "an unknown target peer",
    text: FW`  - name: a\n    port: 80\n    peer: rpi2\n`,
    expected: [
      'porthole.yaml:17:5 forwards[0].peer: "rpi2" is not a peer in this spec; known peers: rpi, phone',
    ],
  },
  {
    name: "an unknown target peer, when a peer's own name is invalid (quoted in the list)",
    text: FW`  - name: a\n    port: 80\n    peer: rpi2\n`.replace("name: phone", 'name: "my phone"'),
    expected: [
      "porthole.yaml:11:5 peers[1].name: \"my phone\" is not a valid name; use 1-32 lowercase letters, digits or '-', not starting or ending with '-'",
      'porthole.yaml:17:5 forwards[0].peer: "rpi2" is not a peer in this spec; known peers: rpi, "my phone"',
    ],
  },
  {
    name: "a transparent forward to a device",
    text: FW`  - name: a\n    port: 80\n    peer: phone\n    mode: transparent\n`,
    expected: [
      'porthole.yaml:18:5 forwards[0].mode: "transparent" needs the target to run porthole (policy routing for replies), but "phone" is a device; use "snat"',
    ],
  },
  {
    name: "two modes for one target",
    text: FW`  - name: a\n    port: 80\n    peer: rpi\n    targetPort: 8080\n  - name: b\n    port: 8080\n    peer: rpi\n    mode: transparent\n`,
    expected: [
      'porthole.yaml:22:5 forwards[1].mode: "transparent" differs from forwards[0], which sends tcp rpi:8080 as "snat"; one target takes one mode',
    ],
  },
  {
    name: "bad allowFrom entries",
    text: FW`  - name: a\n    port: 80\n    peer: rpi\n    allowFrom:\n      - everyone\n      - 198.51.100.1/24\n      - 2001:db8::/129\n      - 198.51.100.0/24\n`,
    expected: [
      'porthole.yaml:19:9 forwards[0].allowFrom[0]: "everyone" is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32',
      'porthole.yaml:20:9 forwards[0].allowFrom[1]: "198.51.100.1/24" has host bits set; did you mean 198.51.100.0/24?',
      'porthole.yaml:21:9 forwards[0].allowFrom[2]: "2001:db8::/129" is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32',
    ],
  },
  {
    name: "allowFrom entries no client comes from: loopback, multicast",
    text: FW`  - name: a\n    port: 80\n    peer: rpi\n    allowFrom:\n      - 127.0.0.1\n      - ::1\n      - 239.1.0.0/16\n      - 198.51.100.0/24\n`,
    expected: [
      "porthole.yaml:19:9 forwards[0].allowFrom[0]: \"127.0.0.1\" is loopback (inside 127.0.0.0/8): no client's packets come from it, so it admits nobody; list the clients' public addresses",
      "porthole.yaml:20:9 forwards[0].allowFrom[1]: \"::1\" is loopback (inside ::1/128): no client's packets come from it, so it admits nobody; list the clients' public addresses",
      "porthole.yaml:21:9 forwards[0].allowFrom[2]: \"239.1.0.0/16\" is multicast (inside 224.0.0.0/4): no client's packets come from it, so it admits nobody; list the clients' public addresses",
    ],
  },
  {
    name: "allowFrom of IPv6 sources only on a hub without subnet6 admits no client",
    text: FW`  - name: a\n    port: 80\n    peer: rpi\n    allowFrom: [2001:db8::/32, "2001:db8:1::1"]\n  - name: b\n    port: 81\n    peer: rpi\n    allowFrom: [198.51.100.0/24, 2001:db8::/32]\n`,
    expected: [
      'porthole.yaml:18:5 forwards[0].allowFrom: "2001:db8::/32, 2001:db8:1::1" holds IPv6 sources only, but the hub forwards IPv4 only (no hub.subnet6): no client could connect; add the IPv4 addresses to admit, or set hub.subnet6',
    ],
  },
  {
    name: "allowFrom is not a list",
    text: FW`  - name: a\n    port: 80\n    peer: rpi\n    allowFrom: 198.51.100.0/24\n`,
    expected: [
      'porthole.yaml:18:5 forwards[0].allowFrom: "198.51.100.0/24" is not accepted; expected a list',
    ],
  },
  {
    name: "duplicate and invalid forward names",
    text: FW`  - name: web\n    port: 80\n    peer: rpi\n  - name: web\n    port: 81\n    peer: rpi\n  - name: Web Site\n    port: 82\n    peer: rpi\n`,
    expected: [
      'porthole.yaml:18:5 forwards[1].name: "web" is already used by forwards[0]',
      "porthole.yaml:21:5 forwards[2].name: \"Web Site\" is not a valid name; use 1-32 lowercase letters, digits or '-', not starting or ending with '-'",
    ],
  },
];

describe("invalid specs: exact diagnostics", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const r = loadSpec(c.text, "porthole.yaml");
      assert.equal(r.ok, false, "the spec should be invalid");
      if (r.ok) return;
      assert.deepEqual(r.report.split("\n"), c.expected);
      for (const d of r.problems) assert.ok(d.message.length > 0);
    });
  }
});

test("invalid specs: at least 30 distinct cases, each with expected lines", () => {
  assert.ok(CASES.length >= 30, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, "case names are unique");
  assert.equal(new Set(CASES.map((c) => c.text)).size, CASES.length, "case specs are distinct");
});

test("a spec with many mistakes reports all of them at once, in file order", () => {
  const text = yaml`
    version: 1
    hub:
      endpoint: 203.0.113.42
      listenPort: 42069
      publicKey: ${HUB}
      subnet: 10.8.0.1/24
      mtu: 100
      firewal: iptables
    peers:
      - name: rpi
        publicKey: not-a-key
        address: 10.8.0.2
        keepalive: 99999
      - name: rpi
        publicKey: ${NAS}
        address: 10.8.0.2
        kind: phone
    forwards:
      - name: share
        port: 80
        peer: pi
      - name: wg
        proto: udp
        port: 42069
        peer: rpi
        allowFrom: [0.0.0.0/-1]
      - name: ssh
        port: 22
        peer: rpi
        targetPort: 22-23
    extra: true
  `;
  const r = loadSpec(text, "many.yaml");
  assert.equal(r.ok, false);
  if (r.ok) return;
  // The hub's subnet is unusable, yet the peers and forwards are checked too (a peer address is not
  // judged against a subnet that is not known, but a duplicate is still one).
  assert.deepEqual(r.report.split("\n"), [
    'many.yaml:6:3 hub.subnet: "10.8.0.1/24" has host bits set; did you mean 10.8.0.0/24?',
    "many.yaml:7:3 hub.mtu: 100 is out of range; accepted: 1280-9000",
    "many.yaml:8:3 hub.firewal: unknown field; did you mean firewall? accepted fields: name, endpoint, listenPort, publicKey, publicInterface, interface, subnet, subnet6, address, address6, mtu, firewall, mesh, snatPool, sshPort, reservedPorts, apiPort, limits, metricsListen",
    "many.yaml:11:5 peers[0].publicKey: \"not-a-key\" is not a WireGuard key; expected 32 bytes in base64 (44 characters ending in '='), as `wg pubkey` prints",
    "many.yaml:13:5 peers[0].keepalive: 99999 is out of range; accepted: 0 (off) to 65535 seconds",
    'many.yaml:14:5 peers[1].name: "rpi" is already used by peers[0]',
    'many.yaml:16:5 peers[1].address: "10.8.0.2" is already taken by peers[0].address',
    'many.yaml:17:5 peers[1].kind: "phone" is not accepted; use one of: agent, device',
    'many.yaml:21:5 forwards[0].peer: "pi" is not a peer in this spec; known peers: rpi',
    "many.yaml:24:5 forwards[1].port: 42069 is the hub's WireGuard listen port; pick another public port",
    'many.yaml:26:17 forwards[1].allowFrom[0]: "0.0.0.0/-1" is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32',
    "many.yaml:28:5 forwards[2].port: 22 is the hub's SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)",
    'many.yaml:30:5 forwards[2].targetPort: "22-23" spans 2 ports but port 22 spans 1; ranges map 1:1, so give one of equal length',
    "many.yaml:31:1 extra: unknown field; accepted fields: version, hub, peers, forwards",
  ]);
});

describe("address allocation", () => {
  const NAMES = ["rpi", "nas", "laptop", "phone", "cam", "tv", "printer", "desktop", "tablet", "router"];
  const keyFor = (name: string) => {
    const b = Buffer.alloc(32);
    b.write(name.padEnd(32, "."));
    return b.toString("base64");
  };
  const specFor = (peers: { name: string; address?: string }[], hubExtra = "") =>
    `${hub(hubExtra)}peers:\n${peers
      .map(
        (p) =>
          `  - name: ${p.name}\n    publicKey: ${keyFor(p.name)}\n${p.address ? `    address: ${p.address}\n` : ""}`,
      )
      .join("")}`;
  const allocate = (peers: { name: string; address?: string }[], hubExtra = "") => {
    const r = loadSpec(specFor(peers, hubExtra));
    assert.ok(r.ok, r.ok ? "" : r.report);
    return new Map(
      r.spec.peers.map((p) => [
        p.name,
        { v4: formatAddr(p.address), v6: p.address6 && formatAddr(p.address6) },
      ]),
    );
  };
  const v4 = (m: ReturnType<typeof allocate>) => new Map([...m].map(([k, v]) => [k, v.v4]));
  const named = (names: string[]) => names.map((name) => ({ name }));

  test("omitted addresses are allocated inside the subnet: host addresses, not the hub's, all different", () => {
    for (const [subnet, count] of [
      ["10.8.0.0/24", 10],
      ["10.8.0.0/24", 200],
      ["192.168.77.0/28", 13],
      ["10.8.0.0/30", 1],
    ] as const) {
      const names = Array.from({ length: count }, (_, i) => `peer-${i}`);
      const got = [...v4(allocate(named(names), `\n  subnet: ${subnet}`)).values()];
      const net = parseCidr(subnet) as NonNullable<ReturnType<typeof parseCidr>>;
      const { first, last } = hostRange(net);
      const hubAddr = addrAt(net, first).value;
      assert.equal(new Set(got).size, count, `distinct in ${subnet}`);
      for (const a of got) {
        const addr = parseAddr(a) as NonNullable<ReturnType<typeof parseAddr>>;
        assert.ok(contains(net, addr), `${a} in ${subnet}`);
        const off = offsetIn(net, addr);
        assert.ok(off >= first && off <= last, `${a} is a host address of ${subnet}`);
        assert.notEqual(addr.value, hubAddr, `${a} is not the hub's`);
      }
    }
  });

  test("a subnet filled to the last address still works (a /28 has 14 hosts: the hub and 13 peers)", () => {
    const names = Array.from({ length: 14 }, (_, i) => `p${i}`);
    const r = loadSpec(specFor(named(names), "\n  subnet: 192.168.77.0/28"));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.report, /no free address left in 192\.168\.77\.0\/28/);
  });

  test("deterministic: the same spec gives the same addresses, whatever the keys or the run", () => {
    const a = allocate(named(NAMES));
    const b = allocate(named(NAMES));
    assert.deepEqual(a, b);
    // The pinned values: a change here renumbers peers on every existing network.
    assert.deepEqual(Object.fromEntries(v4(a)), {
      rpi: "10.8.0.19",
      nas: "10.8.0.20",
      laptop: "10.8.0.90",
      phone: "10.8.0.218",
      cam: "10.8.0.143",
      tv: "10.8.0.32",
      printer: "10.8.0.78",
      desktop: "10.8.0.248",
      tablet: "10.8.0.168",
      router: "10.8.0.195",
    });
  });

  test("stable: removing, appending or reordering other peers leaves a peer's address alone", () => {
    const base = v4(allocate(named(NAMES)));
    const same = (m: Map<string, string>, what: string) => {
      for (const [name, addr] of m)
        if (base.has(name)) assert.equal(addr, base.get(name), `${name} after ${what}`);
    };
    for (const gone of NAMES) same(v4(allocate(named(NAMES.filter((n) => n !== gone)))), `removing ${gone}`);
    same(v4(allocate(named([...NAMES, "new-one", "another"]))), "appending peers");
    same(v4(allocate(named([...NAMES].reverse()))), "reversing the list");
    // Giving other peers explicit addresses elsewhere changes nothing either.
    same(
      v4(
        allocate([
          ...named(NAMES),
          { name: "fixed", address: "10.8.0.5" },
          { name: "fixed2", address: "10.8.0.6" },
        ]),
      ),
      "adding peers with explicit addresses",
    );
  });

  test("stable under appending, for any names (property)", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { minLength: 1, maxLength: 40 }),
        fc.uniqueArray(name, { minLength: 1, maxLength: 10 }),
        (existing, added) => {
          const more = added.filter((n) => !existing.includes(n) && n !== "hub");
          const old = existing.filter((n) => n !== "hub");
          if (!old.length) return;
          const before = v4(allocate(named(old)));
          const after = v4(allocate(named([...old, ...more])));
          for (const n of old) assert.equal(after.get(n), before.get(n), n);
        },
      ),
      { numRuns: 40 },
    );
  });

  test("explicit addresses are kept, and allocation goes around them", () => {
    const base = v4(allocate(named(NAMES)));
    const rpi = base.get("rpi") as string;
    // Another peer takes rpi's allocated address explicitly: it gets it, and rpi moves to a free one.
    const m = v4(allocate([{ name: "x", address: rpi }, ...named(NAMES)]));
    assert.equal(m.get("x"), rpi);
    assert.notEqual(m.get("rpi"), rpi);
    assert.equal(new Set(m.values()).size, m.size);
  });

  test("IPv6 addresses follow the IPv4 allocation (same host offset in subnet6)", () => {
    const m = allocate(named(NAMES), "\n  subnet6: fd00:8::/64");
    for (const { v4: a, v6 } of m.values()) {
      const last = Number((a as string).split(".")[3]);
      assert.equal(v6, `fd00:8::${last.toString(16)}`);
    }
  });
});
