// A large, valid porthole.yaml for benchmarks and scale tests: many peers and many forwards, mixing
// protocols, ranges, modes and allow-lists the way a busy hub would.

export interface BigSpecOptions {
  peers: number;
  forwards: number;
  firewall?: "nftables" | "iptables";
  /** Add an IPv6 ULA subnet (every forward then exists twice, once per family). */
  ipv6?: boolean;
}

/** A deterministic, well-formed WireGuard public key for peer `i` (32 bytes, base64). */
export function fakeKey(i: number): string {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i + 1, 0);
  b.writeUInt32BE((0x9e3779b9 ^ i) >>> 0, 28);
  return b.toString("base64");
}

export function bigSpecYaml(o: BigSpecOptions): string {
  const prefix = o.peers < 250 ? 24 : o.peers < 1000 ? 22 : 16;
  const lines = [
    "version: 1",
    "hub:",
    "  endpoint: hub.example.com",
    "  listenPort: 51820",
    `  publicKey: ${fakeKey(1_000_000)}`,
    "  publicInterface: ens3",
    `  subnet: 10.8.0.0/${prefix}`,
    ...(o.ipv6 ? ["  subnet6: fd00:8::/64"] : []),
    `  firewall: ${o.firewall ?? "nftables"}`,
    "peers:",
  ];
  for (let i = 0; i < o.peers; i++) {
    lines.push(`  - name: peer-${i}`, `    publicKey: ${fakeKey(i)}`);
    // Every other peer has an explicit address; the rest are allocated.
    if (i % 2 === 0) lines.push(`    address: ${addressOf(i)}`);
    if (i % 50 === 0) lines.push("    admin: true");
  }
  lines.push("forwards:");
  let port = 1024;
  for (let i = 0; i < o.forwards; i++) {
    const proto = ["tcp", "udp", "tcp+udp"][i % 3] as string;
    const span = i % 100 === 0 ? 4 : 1;
    const from = port;
    port += span;
    if (port === 51820 || (from <= 51820 && 51820 < port)) port = 51821 + span;
    const range = span === 1 ? `${from}` : `${from}-${from + span - 1}`;
    lines.push(
      `  - name: fwd-${i}`,
      `    proto: ${proto}`,
      `    port: ${span === 1 ? from : JSON.stringify(range)}`,
      `    peer: peer-${i % o.peers}`,
    );
    if (i % 10 === 3) lines.push("    mode: transparent");
    if (i % 20 === 7) lines.push("    allowFrom: [198.51.100.0/24, 203.0.113.0/25, 2001:db8::/32]");
  }
  return `${lines.join("\n")}\n`;
}

function addressOf(i: number): string {
  const n = i + 2; // .0 is the network, .1 the hub
  return `10.8.${n >> 8}.${n & 255}`;
}
