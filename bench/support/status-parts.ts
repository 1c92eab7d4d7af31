// Helper of status-parts.bench.ts, run inside its namespace: the hub's status at N forwards over the
// real host (nft, conntrack, wg of the namespace), in-process, and its parts one by one, alternating per
// rep. Prints JSON: per part, the wall times and CPU times (this process's user + system with its reaped
// children's: the nft and conntrack processes), in ms.
//
//   node --import tsx bench/support/status-parts.ts SPEC_FILE STATE_DIR REPS
import { readFileSync } from "node:fs";
import { expandTargets } from "../../src/compile/targets.ts";
import { hostFiles } from "../../src/host/files.ts";
import { realHost } from "../../src/host/real-host.ts";
import { run, runLines } from "../../src/host/run.ts";
import { nftElementCounters, openConnections } from "../../src/host/stats.ts";
import { HubService } from "../../src/hub/service.ts";
import { countForwards } from "../../src/hub/status.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { OPEN_MARK } from "../../src/plan/plan.ts";

const [specFile, stateDir, repsArg] = process.argv.slice(2) as [string, string, string];
const service = new HubService(
  { host: realHost, keyFile: "/nonexistent", stateDir, root: stateDir, bin: "porthole" },
  new SpecStore(hostFiles, specFile, stateDir),
);
/** This process's CPU time with its reaped children's, ms (/proc/self/stat utime stime cutime cstime). */
const cpuMs = () => {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  return [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) * 10;
};
const OPEN_MARK_FILTER = `0x${OPEN_MARK.established.toString(16)}/0x${(OPEN_MARK.established | OPEN_MARK.closed).toString(16)}`;
/** The counted sets status lists (hub/status.ts forwardCounters). */
const LISTS = [
  ["set", "opened_tcp"],
  ["set", "opened_udp"],
  ["set", "traffic_tcp"],
  ["set", "traffic_udp"],
] as const;
const status = await service.statusFor({ kind: "root" }, false); // warm: the spec read, the targets
const { spec } = await service.live();
const targets = expandTargets(spec);
const parts: Record<string, () => Promise<unknown>> = {
  // With the census (hub/census.ts) a status answers with the last count when counting is slow, and
  // its count runs in the background: its CPU lands in whichever part runs meanwhile.
  "status without probes (whole)": () => service.statusFor({ kind: "root" }, false),
  "the census's count (every status waited for it before)": () => countForwards(realHost, spec, targets),
  "its nft -j list of opened_tcp/udp, traffic_tcp/udp (parsed)": () =>
    Promise.all(LISTS.map(([kind, name]) => nftElementCounters(kind, name))),
  "the same as nft text (not parsed; the alternative)": () =>
    Promise.all(LISTS.map(([kind, name]) => run(["nft", "list", kind, "inet", "porthole", name]))),
  "its open-connection count (conntrack -L --mark, parsed)": () => openConnections([4], ["tcp"]),
  "the same listing, not parsed": () =>
    runLines(["conntrack", "-L", "-f", "ipv4", "--mark", OPEN_MARK_FILTER], () => {}),
  // A listing walks every bucket of the kernel's conntrack hash (one for all namespaces), however few
  // entries match; the entry count alone does not walk: the difference is the walk.
  "conntrack -C (the table's size: no walk)": () => run(["conntrack", "-C"]),
  "its foreign-firewall observation": () => realHost.firewall.observeForeign(),
  "its JSON (the API's reply body)": async () => JSON.stringify(status),
};
const out: Record<string, { ms: number[]; cpu: number[] }> = {};
const names = Object.keys(parts);
for (let rep = 0; rep < Number(repsArg); rep++)
  for (const name of rep % 2 ? [...names].reverse() : names) {
    const c0 = cpuMs();
    const t0 = performance.now();
    await parts[name]?.();
    out[name] ??= { ms: [], cpu: [] };
    const sample = out[name];
    sample.ms.push(performance.now() - t0);
    sample.cpu.push(cpuMs() - c0);
  }
console.log(JSON.stringify({ forwards: status.forwards.length, bytes: JSON.stringify(status).length, out }));
