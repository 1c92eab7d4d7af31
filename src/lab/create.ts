// Building a lab world: its record first, then the namespaces, their holders and the wiring. Everything
// is recorded in /run/porthole-lab/NAME.json before or right after it exists, so destroyWorld(NAME) cleans
// up from the record alone, even after the creator crashed.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { run } from "../host/run.ts";
import { makeMountpoints, startHolder } from "./holder.ts";
import { nsId } from "./procs.ts";
import {
  type HostRecord,
  LAB_BASE_DIR,
  LAB_HOSTS,
  readState,
  statePathFor,
  type WorldState,
  writeState,
} from "./state.ts";
import { destroyWorld } from "./teardown.ts";
import { LAB, wire } from "./topology.ts";
import { World, type WorldOptions } from "./world.ts";

/** A lab's name (its namespaces are ph-NAME-HOST); LAB_NAME_RULE says it in words. */
export const LAB_NAME_RE = /^[a-z0-9][a-z0-9-]{0,15}$/;
export const LAB_NAME_RULE = "1-16 lowercase letters, digits or '-', starting with a letter or digit";
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

/** Builds the lab world NAME (the diagram is in topology.ts). Throws, after cleaning up, if any step fails. */
export async function createWorld(name: string, opts: WorldOptions = {}): Promise<World> {
  if (!LAB_NAME_RE.test(name)) {
    throw new Error(`lab name ${JSON.stringify(name)}: use ${LAB_NAME_RULE}`);
  }
  const prefix = opts.prefix ?? `ph-${name}`;
  if (!PREFIX_RE.test(prefix))
    throw new Error(`lab namespace prefix ${JSON.stringify(prefix)} is not usable`);
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const statePath = statePathFor(baseDir, name);
  if (readState(statePath)) {
    throw new Error(
      `lab ${name} already exists (${statePath}): \`porthole lab down --name ${name}\` removes it, or pick another --name`,
    );
  }
  for (const host of LAB_HOSTS) {
    if (nsId(`/run/netns/${prefix}-${host}`)) {
      throw new Error(`network namespace ${prefix}-${host} already exists and is not part of a lab record`);
    }
  }
  mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  const dir = join(baseDir, name);
  const state: WorldState = {
    version: 1,
    name,
    prefix,
    dir,
    createdAt: new Date().toISOString(),
    creatorPid: process.pid,
    homeWan: LAB.homeWan,
    hosts: {},
    spawned: [],
  };
  writeState(statePath, state);
  const world = new World(state, statePath, baseDir);
  try {
    makeMountpoints();
    for (const host of LAB_HOSTS) {
      const root = join(dir, host);
      const rec: HostRecord = {
        host,
        netns: `${prefix}-${host}`,
        root,
        configDir: join(root, "etc/porthole"),
        stateDir: join(root, "var/lib/porthole"),
      };
      world.update((s) => {
        s.hosts[host] = rec; // recorded before it exists: a crash right after `ip netns add` still cleans up
      });
      mkdirSync(rec.configDir, { recursive: true, mode: 0o700 });
      mkdirSync(rec.stateDir, { recursive: true, mode: 0o700 });
      await run(["ip", "netns", "add", rec.netns]);
      const id = nsId(`/run/netns/${rec.netns}`);
      world.update((s) => {
        const h = s.hosts[host];
        if (h && id) h.netnsId = id;
      });
    }
    await Promise.all(LAB_HOSTS.map((h) => startHolder(world, h)));
    await wire(world);
    return world;
  } catch (e) {
    try {
      await destroyWorld(name, { baseDir });
    } catch (cleanup) {
      throw new AggregateError([e, cleanup], `${(e as Error).message}\n(cleanup also failed: ${cleanup})`);
    }
    throw e;
  }
}
