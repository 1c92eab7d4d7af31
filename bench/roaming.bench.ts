// How fast service comes back after the home router's public address changes: with the peer agent
// (it probes the hub every 2 s) versus plain PersistentKeepalive 25. Alternating trials in one lab.
// Run: node --import tsx bench/roaming.bench.ts [TRIALS]
import { join, resolve } from "node:path";
import { labUpJoined, WEBDAV } from "../src/lab/lab.ts";
import { changeHomeAddress } from "../src/lab/renumber.ts";
import { destroyWorld } from "../src/lab/teardown.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";

const repo = resolve(import.meta.dirname, "..");
const PORTHOLE = [process.execPath, join(repo, "bin/porthole.js")];
const trials = Number(process.argv[2] ?? 4);
const name = `roam${process.pid.toString(36).slice(-3)}`;

async function fetchOk(world: World): Promise<boolean> {
  const r = await world.exec(
    "client",
    [
      "curl",
      "-s",
      "-m",
      "1",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-u",
      `${WEBDAV.user}:${WEBDAV.pass}`,
      `http://${LAB.hubPublic}/hello.txt`,
    ],
    { allowFail: true },
  );
  return r.stdout === "200";
}

async function recovery(world: World, addr: string): Promise<number> {
  await changeHomeAddress(world, addr);
  const start = Date.now();
  while (Date.now() - start < 60_000) {
    if (await fetchOk(world)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  return Number.POSITIVE_INFINITY;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

try {
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const results: Record<"agent" | "keepalive", number[]> = { agent: [], keepalive: [] };
  let n = 3;
  for (let i = 0; i < trials; i++) {
    for (const mode of ["agent", "keepalive"] as const) {
      const agent = world.running().find((p) => p.host === "peer" && p.argv.includes("run"));
      if (mode === "keepalive" && agent) await world.stop(agent.pid);
      if (mode === "agent" && !agent)
        await world.spawn("peer", [...PORTHOLE, "peer", "run"], { label: "peer-agent" });
      await new Promise((r) => setTimeout(r, 3000 + Math.random() * 5000)); // a random keepalive phase
      if (!(await fetchOk(world))) throw new Error("the share is not reachable before the change");
      const ms = await recovery(world, `198.51.100.${n++}`);
      results[mode].push(ms);
      console.error(`${mode}: ${ms} ms`);
    }
  }
  console.log("| after the home address changes | trials | median | max |");
  console.log("|---|---|---|---|");
  for (const [mode, xs] of Object.entries(results)) {
    const label = mode === "agent" ? "peer agent running (probe every 2 s)" : "plain PersistentKeepalive 25";
    console.log(
      `| ${label} | ${xs.length} | ${(median(xs) / 1000).toFixed(1)} s | ${(Math.max(...xs) / 1000).toFixed(1)} s |`,
    );
  }
} finally {
  await destroyWorld(name);
}
