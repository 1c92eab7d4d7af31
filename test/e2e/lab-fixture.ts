// Shared by the e2e tests: a lab per test (unique name), torn down even when the test fails, and
// helpers to act in it as a user would (curl from the client, porthole in a host).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { TestContext } from "node:test";
import type { RunResult } from "../../src/host/run.ts";
import { labSpec, labUp, labUpJoined, WEBDAV } from "../../src/lab/lab.ts";
import { labProblems } from "../../src/lab/prereq.ts";
import { destroyWorld } from "../../src/lab/teardown.ts";
import { LAB } from "../../src/lab/topology.ts";
import type { World } from "../../src/lab/world.ts";
import type { Backend, Mode } from "../../src/spec/types.ts";
import { inCI } from "../unit/helpers/tools.ts";

const repo = resolve(import.meta.dirname, "../..");
export const PORTHOLE = [process.execPath, join(repo, "bin/porthole.js")];
export const SUPPORT = join(repo, "test/support");

/** In CI a missing prerequisite fails the test; elsewhere the test is skipped with the reason. */
export function requireLab(t: TestContext): boolean {
  if (!existsSync(join(repo, "dist/porthole.cjs")))
    execFileSync("npm", ["run", "build"], { cwd: repo, stdio: "ignore" });
  const problems = labProblems();
  if (!problems.length) return true;
  if (inCI()) assert.fail(`e2e prerequisites missing in CI: ${problems.join("; ")}`);
  t.skip(problems.join("; "));
  return false;
}

let counter = 0;
export const uniqueName = (tag: string) =>
  `${tag}${process.pid.toString(36).slice(-3)}${(counter++).toString(36)}`;

export interface Lab {
  world: World;
  hubKey: string;
  peerKey: string;
  porthole(
    host: "hub" | "peer",
    args: string[],
    opts?: { allowFail?: boolean; env?: NodeJS.ProcessEnv },
  ): Promise<RunResult>;
  /** Replaces the spec on both sides (the spec is public; each side applies its part). */
  writeSpec(text: string): Promise<void>;
  applyBoth(): Promise<void>;
  curl(args: string[], from?: string): Promise<RunResult>;
}

/** The lab of the quick tour: hub init, the hub daemon, peer add, join, the peer agent, expose. */
export async function withJoinedLab(
  t: TestContext,
  tag: string,
  opts: { backend?: Backend; mode?: Mode; hubName?: string },
  fn: (lab: Lab) => Promise<void>,
): Promise<void> {
  return withLab(t, tag, { ...opts, joined: true }, fn);
}

export async function withLab(
  t: TestContext,
  tag: string,
  opts: { backend?: Backend; mode?: Mode; joined?: boolean; hubName?: string },
  fn: (lab: Lab) => Promise<void>,
): Promise<void> {
  if (!requireLab(t)) return;
  const name = uniqueName(tag);
  try {
    const world = await (opts.joined ? labUpJoined : labUp)({
      name,
      backend: opts.backend ?? "nftables",
      mode: opts.mode ?? "snat",
      porthole: PORTHOLE,
      hubName: opts.hubName,
    });
    const pub = async (h: "hub" | "peer") =>
      (await world.exec(h, [...PORTHOLE, "pubkey"], { input: await readKey(world, h) })).stdout.trim();
    const lab: Lab = {
      world,
      hubKey: await pub("hub"),
      peerKey: await pub("peer"),
      porthole: (host, args, o = {}) => world.exec(host, [...PORTHOLE, ...args], o),
      writeSpec: async (text) => {
        for (const h of ["hub", "peer"] as const)
          await writeFile(join(world.hostRecord(h).configDir, "porthole.yaml"), text);
      },
      applyBoth: async () => {
        await lab.porthole("hub", ["apply", "--host", "hub"]);
        await lab.porthole("peer", ["apply", "--host", WEBDAV.peer]);
      },
      curl: (args, from = LAB.client) =>
        world.exec("client", ["curl", "-sS", "-m", "5", "--interface", from, ...args], { allowFail: true }),
    };
    await fn(lab);
  } finally {
    await destroyWorld(name);
  }
}

async function readKey(world: World, h: "hub" | "peer"): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return readFile(join(world.hostRecord(h).configDir, "private.key"), "utf8");
}

/** The lab's spec with extra forwards appended (YAML list items). */
/**
 * The address a client of the lab has on the peer in snat mode: the lab's spec (like `hub init`'s) maps
 * each client into hub.snatPool 240.0.0.0/8 by its low 24 bits (203.0.113.2 -> 240.0.113.2).
 */
export const onPeer = (client: string = LAB.client) => client.replace(/^\d+\./, "240.");

export function specWith(lab: Lab, backend: Backend, mode: Mode, extraForwards: string[]): string {
  const base = labSpec(lab.hubKey, lab.peerKey, { backend, mode });
  return `${base}${extraForwards.map((f) => `  - ${f}\n`).join("")}`;
}

/** Starts the whoami test server on the peer; resolves when it listens. */
export async function startWhoami(lab: Lab, ports: string[]): Promise<void> {
  const p = await lab.world.spawn("peer", [process.execPath, join(SUPPORT, "whoami.mjs"), ...ports], {
    label: "whoami",
  });
  for (let i = 0; i < 50; i++) {
    if (lab.world.logTail(p.log).includes("listening")) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`whoami did not start: ${lab.world.logTail(p.log)}`);
}

export const udpAsk = (lab: Lab, host: string, port: number) =>
  lab.world.exec("client", [process.execPath, join(SUPPORT, "udp-ask.mjs"), host, String(port)], {
    allowFail: true,
  });
