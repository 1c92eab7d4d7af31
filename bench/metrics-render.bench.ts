// What rendering /metrics costs the hub daemon at 10,000 forwards (every target probed) and 100 peers:
// renderMetrics alone, on a status made here (the status itself is bench:status's). `--baseline DIR`
// renders with another checkout's src/hub/metrics.ts too, interleaved round by round (the machine's
// load moves both alike), and prints the medians, their ratio and the text's size.
//   npm run bench:metrics -- [--baseline /path/to/other/checkout] [--rounds 15]

import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { ForwardStatus, HubStatus, PeerStatus } from "../src/protocol/status.ts";

const { values } = parseArgs({
  options: { baseline: { type: "string" }, rounds: { type: "string", default: "15" } },
});
const rounds = Number(values.rounds);
type Render = typeof import("../src/hub/metrics.ts");
const load = async (dir: string): Promise<Render> =>
  import(pathToFileURL(join(resolve(dir), "src/hub/metrics.ts")).href);

const peers: PeerStatus[] = Array.from({ length: 100 }, (_, i) => ({
  name: `peer${i}`,
  address: `10.8.0.${i + 2}`,
  online: true,
  handshakeAgeSeconds: 5,
  receivedSecondsAgo: 3,
  endpoint: "198.51.100.2:4000",
  rxBytes: 1 << 20,
  txBytes: 1 << 21,
  admin: false,
  kind: "agent",
}));
const forwards: ForwardStatus[] = Array.from({ length: 10_000 }, (_, i) => ({
  name: `fwd-${i}`,
  peer: `peer${i % 100}`,
  summary: "",
  mode: "snat",
  connectionsTotal: i,
  packets: 10 * i,
  bytes: 1000 * i,
  establishedConnections: i % 3,
  probeTarget: `10.8.0.${(i % 100) + 2}:${8000 + (i % 1000)}`,
  reachable: true,
  probeOutcome: i % 10 ? "accepted" : "timeout",
  probeAgeSeconds: i % 60,
  blockedBy: [],
  working: true,
}));
const status: HubStatus = {
  hub: { name: "hub", interface: "wg0", listenPort: 51820, address: "10.8.0.1", up: true },
  peers,
  forwards,
  firewall: [],
};

const sides: [string, Render][] = [["this", await load(".")]];
if (values.baseline) sides.push(["baseline", await load(values.baseline)]);
const times = new Map(sides.map(([k]) => [k, [] as number[]]));
const sizes = new Map<string, number>();
for (let r = 0; r < rounds; r++)
  for (const [k, m] of r % 2 ? [...sides].reverse() : sides) {
    const apply = {
      total: 1,
      failures: 0,
      lastDurationSeconds: 0,
      durations: new m.Histogram(m.APPLY_BUCKETS),
    };
    const t0 = performance.now();
    const text = m.renderMetrics(status, apply);
    times.get(k)?.push(performance.now() - t0);
    sizes.set(k, text.length);
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const [k] of sides)
  console.log(
    `${k.padEnd(8)} median ${median(times.get(k) ?? []).toFixed(1)} ms over ${rounds} rounds, ${((sizes.get(k) ?? 0) / 1e6).toFixed(2)} MB of text`,
  );
if (values.baseline)
  console.log(
    `ratio this/baseline: ${(median(times.get("this") ?? []) / median(times.get("baseline") ?? [])).toFixed(2)}`,
  );
