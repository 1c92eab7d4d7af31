// `porthole lab`: the blog post's world on one machine, built with porthole's own commands.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DAEMON_ENV } from "../plan/daemon-env.ts";
import { DEFAULTS } from "../spec/defaults.ts";
import { count } from "../spec/diagnostics.ts";
import type { Backend, Mode } from "../spec/types.ts";
import { createWorld } from "./create.ts";
import { startWebdav } from "./services.ts";
import { destroyWorld } from "./teardown.ts";
import { LAB } from "./topology.ts";
import { listWorlds, openWorld, type World } from "./world.ts";

export interface LabOptions {
  name: string;
  backend: Backend;
  mode: Mode;
  /** How to run porthole inside a lab host, e.g. [process.execPath, "/path/to/bin/porthole.js"]. */
  porthole: string[];
  log?: (line: string) => void;
  /**
   * The hub's endpoint as a name instead of its address (labUpJoined): the peer resolves it through
   * its /etc/hosts, as a real peer would through DNS.
   */
  hubName?: string;
}

export const DEFAULT_LAB = "porthole";
export const WEBDAV = { user: "foo", pass: "secret", port: 8080, peer: "rpi" } as const;

export function labSpec(hubKey: string, peerKey: string, o: Pick<LabOptions, "backend" | "mode">): string {
  return `# The blog post's setup, in the lab: public :80 on the hub reaches rclone on the Pi.
version: 1
hub:
  endpoint: ${LAB.hubPublic}
  listenPort: 51820
  publicKey: ${hubKey}
  publicInterface: ens3
  firewall: ${o.backend}
  snatPool: ${DEFAULTS.snatPool}
peers:
  - name: ${WEBDAV.peer}
    publicKey: ${peerKey}
    address: 10.8.0.2
forwards:
  - name: share
    proto: tcp
    port: 80
    peer: ${WEBDAV.peer}
    targetPort: ${WEBDAV.port}
    mode: ${o.mode}
`;
}

async function porthole(world: World, o: LabOptions, host: "hub" | "peer", args: string[]): Promise<string> {
  const r = await world.exec(host, [...o.porthole, ...args]);
  return r.stdout.trim();
}

/** Creates the lab's world and runs `build` in it; a failure removes the whole lab again. */
async function newLab(
  o: LabOptions,
  build: (world: World, log: (l: string) => void) => Promise<void>,
): Promise<World> {
  const log = o.log ?? (() => {});
  // The default lab's namespaces are porthole-client, porthole-hub, ...; others get ph-NAME-*.
  const world = await createWorld(o.name, o.name === DEFAULT_LAB ? { prefix: "porthole" } : {});
  try {
    log(
      `lab ${o.name}: namespaces ${(["client", "hub", "home", "peer"] as const).map((h) => world.netns(h)).join(", ")}`,
    );
    await build(world, log);
    return world;
  } catch (e) {
    await destroyWorld(o.name);
    throw e;
  }
}

/** The blog post's share: rclone serving a demo directory over WebDAV on the peer. */
async function serveShare(world: World, log: (l: string) => void): Promise<void> {
  const share = join(world.dir, "share");
  await mkdir(share, { recursive: true });
  await writeFile(join(share, "hello.txt"), "Hello from the Pi, through the hub.\n");
  await startWebdav(world, share, WEBDAV.user, WEBDAV.pass, WEBDAV.port);
  log(`rpi$ rclone serve webdav --user ${WEBDAV.user} --pass ${WEBDAV.pass} --addr :${WEBDAV.port} ${share}`);
}

/**
 * The newcomer's lab: the four commands of the quick tour, for real — hub init, the hub daemon,
 * peer add (a token), join, the peer agent, expose — then WebDAV on the peer.
 */
export function labUpJoined(o: LabOptions): Promise<World> {
  return newLab(o, async (world, log) => {
    const say = async (host: "hub" | "peer", args: string[]) => {
      log(`${host === "hub" ? "vps" : "rpi"}$ porthole ${args.join(" ")}`);
      const out = await porthole(world, o, host, args);
      if (out) log(indent(out));
      return out;
    };
    if (o.hubName) world.setHostsEntry("peer", o.hubName, LAB.hubPublic);
    await say("hub", [
      "hub",
      "init",
      "--endpoint",
      o.hubName ?? LAB.hubPublic,
      "--public-interface",
      "ens3",
      "--firewall",
      o.backend,
    ]);
    // With the unit's environment (its memory flags): the lab runs the daemons as an install does.
    await world.spawn("hub", [...o.porthole, "hub", "run"], { label: "hub-daemon", env: DAEMON_ENV });
    // Ready when the daemon's API answers on its socket (`status` says so).
    await waitUntil(() =>
      world
        .exec("hub", [...o.porthole, "status", "--json"], { allowFail: true })
        .then(
          (r) =>
            r.code === 0 &&
            (JSON.parse(r.stdout) as { daemon?: { listening?: boolean } }).daemon?.listening === true,
        ),
    );
    const added = await say("hub", ["peer", "add", WEBDAV.peer]);
    const token = /porthole join (\S+)/.exec(added)?.[1];
    if (!token) throw new Error(`no token in the output of peer add:\n${added}`);
    await say("peer", ["join", token]);
    await world.spawn("peer", [...o.porthole, "peer", "run"], { label: "peer-agent", env: DAEMON_ENV });
    await serveShare(world, log);
    await say("peer", [
      "expose",
      "80",
      "--to",
      String(WEBDAV.port),
      ...(o.mode === "transparent" ? ["--transparent"] : []),
    ]);
  });
}

async function waitUntil(ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the hub daemon");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** No daemons: makes each host's key on that host, applies one spec on hub and peer, starts WebDAV. */
export function labUp(o: LabOptions): Promise<World> {
  return newLab(o, async (world, log) => {
    const key = (h: "hub" | "peer") =>
      porthole(world, o, h, ["keygen", "--write", join(world.hostRecord(h).configDir, "private.key")]);
    const spec = labSpec(await key("hub"), await key("peer"), o);
    for (const h of ["hub", "peer"] as const)
      await writeFile(join(world.hostRecord(h).configDir, "porthole.yaml"), spec);
    log("hub$ porthole apply --host hub");
    log(indent(await porthole(world, o, "hub", ["apply", "--host", "hub"])));
    log(`rpi$ porthole apply --host ${WEBDAV.peer}`);
    log(indent(await porthole(world, o, "peer", ["apply", "--host", WEBDAV.peer])));
    await serveShare(world, log);
  });
}

const indent = (text: string) => text.replace(/^/gm, "    ");

export function labHints(world: World): string {
  const named = world.name === DEFAULT_LAB ? "" : ` --name ${world.name}`;
  const inLab = (host: string) => `porthole lab exec ${host}${named} --`;
  return [
    "",
    `Try it (the client namespace plays the internet; ${LAB.hubPublic} is the hub's public address):`,
    `  ${inLab("client")} curl -u ${WEBDAV.user}:${WEBDAV.pass} http://${LAB.hubPublic}/hello.txt`,
    `  ${inLab("client")} curl -u ${WEBDAV.user}:${WEBDAV.pass} -T README.md http://${LAB.hubPublic}/README.md`,
    `  ${inLab("hub")} porthole status        (every vps$ line runs like this; rpi$ lines in "peer")`,
    `  porthole lab shell peer${named}                 (a shell on the Pi; exit to leave)`,
    `  porthole lab down${named}`,
  ].join("\n");
}

export async function labStatus(name: string, portholeArgv: string[]): Promise<string> {
  const world = openWorld(name);
  if (!world)
    throw new Error(
      `no lab named ${name}; running labs: ${
        listWorlds()
          .map((w) => w.name)
          .join(", ") || "none"
      }`,
    );
  const out: string[] = [];
  for (const h of ["hub", "peer"] as const) {
    const st = await world.exec(h, [...portholeArgv, "status"], { allowFail: true });
    const wg = st.code === 0 ? st : await world.exec(h, ["wg", "show"], { allowFail: true });
    out.push(`== ${h} (${world.netns(h)}) ==`, wg.stdout.trim() || wg.stderr.trim());
  }
  return out.join("\n");
}

export async function labDown(name: string): Promise<string> {
  const r = await destroyWorld(name);
  if (!r.existed) return `no lab named ${name}: nothing to remove`;
  return `lab ${name} removed: stopped ${count(r.stopped.length, "process", "processes")}, deleted namespaces ${r.namespacesDeleted.join(", ") || "none"}`;
}
