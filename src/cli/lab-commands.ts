// lab up|status|down|ls|exec|shell: the seed's world in network namespaces on this machine.
import type { Command } from "commander";
import { runAttached } from "../host/run.ts";
import { DEFAULT_LAB, labDown, labHints, labStatus, labUp, labUpJoined } from "../lab/lab.ts";
import { LAB_HOSTS, type LabHost } from "../lab/state.ts";
import { listWorlds, openWorld, type World } from "../lab/world.ts";
import { EXIT, UserError } from "./errors.ts";
import { table } from "./table.ts";

const self = () => [process.execPath, process.argv[1] as string];

function oneOf<T extends string>(flag: string, value: string, accepted: readonly T[]): T {
  if (!accepted.includes(value as T)) {
    throw new UserError(
      `${flag}: ${JSON.stringify(value)} is not accepted; use one of: ${accepted.join(", ")}`,
      EXIT.usage,
    );
  }
  return value as T;
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command("lab")
    .description(
      "run the whole system on this machine in network namespaces: client (the internet), hub, home router, peer",
    );
  lab
    .command("up")
    .description("build the lab, apply porthole on hub and peer, serve a WebDAV share from the peer")
    .option("--name <name>", "lab name (several labs can run side by side)", DEFAULT_LAB)
    .option("--backend <backend>", "hub firewall: nftables or iptables", "nftables")
    .option("--mode <mode>", "snat (the blog post's) or transparent (client IP preserved)", "snat")
    .option("--static", "no daemons: write one spec and `porthole apply` it on hub and peer (issue-3 style)")
    .action(async (o: { name: string; backend: string; mode: string; static?: boolean }) => {
      const world = await (o.static ? labUp : labUpJoined)({
        name: o.name,
        backend: oneOf("--backend", o.backend, ["nftables", "iptables"] as const),
        mode: oneOf("--mode", o.mode, ["snat", "transparent"] as const),
        porthole: self(),
        log: (l) => console.log(l),
      });
      console.log(labHints(world));
    });
  lab
    .command("status")
    .description("WireGuard status of hub and peer, and the forwards")
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .action(async (o: { name: string }) => {
      // As exec and shell say it: the running labs and --name (it was exit 3, "running labs: none").
      if (!openWorld(o.name)) throw new UserError(noLab(o.name));
      console.log(await labStatus(o.name, self()));
    });
  lab
    .command("down")
    .description("remove the lab: processes, namespaces, files (works after a crash too)")
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .action(async (o: { name: string }) => {
      console.log(await labDown(o.name));
    });
  lab
    .command("ls")
    .description("list labs: name, hosts up, processes running, created")
    .option("--json", "machine-readable")
    .action((o: { json?: boolean }) => {
      const worlds = listWorlds();
      if (o.json) {
        console.log(JSON.stringify(worlds, null, 2));
        return;
      }
      if (!worlds.length) {
        console.log("no labs (start one with `porthole lab up`)");
        return;
      }
      const rows = worlds.map((w) => [
        w.name,
        w.hostsDown.length
          ? `${w.hostsUp.join(",") || "-"} (down: ${w.hostsDown.join(",")})`
          : w.hostsUp.join(","),
        `${w.spawned.filter((p) => p.running).length}/${w.spawned.length}`,
        w.createdAt,
      ]);
      console.log(table(["NAME", "HOSTS UP", "PROCESSES", "CREATED"], rows));
    });
  lab
    .command("exec")
    .description(
      `run a command inside a lab host (${LAB_HOSTS.join(", ")}), with its own network, /etc/porthole and /var/lib/porthole`,
    )
    .argument("<host>", LAB_HOSTS.join(" | "))
    .argument("<command...>", "the command and its arguments (after --)")
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .allowUnknownOption()
    .addHelpText("after", "\nExample: porthole lab exec hub -- porthole status")
    .action(async (host: string, command: string[], o: { name: string }) => {
      const [world, h] = labHost(o.name, host);
      process.exitCode = await runAttached(world.enterArgv(h, command), { ...process.env, ...world.env(h) });
    });
  lab
    .command("shell")
    .description("an interactive shell inside a lab host (exit to leave)")
    .argument("<host>", LAB_HOSTS.join(" | "))
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .action(async (host: string, o: { name: string }) => {
      const [world, h] = labHost(o.name, host);
      const env = { ...process.env, ...world.env(h), PS1: `[lab ${world.name}] ${h}# ` };
      process.exitCode = await runAttached(world.enterArgv(h, ["bash", "--norc", "-i"]), env);
    });
}

function labHost(name: string, host: string): [World, LabHost] {
  const h = oneOf("HOST", host, LAB_HOSTS);
  const world = openWorld(name);
  if (!world) throw new UserError(noLab(name));
  return [world, h];
}

/** Names the labs that do exist and how to pick one (`--name`), or how to start one. */
export function noLab(name: string, names = listWorlds().map((w) => w.name)): string {
  const asked = `there is no lab named ${JSON.stringify(name)}${name === DEFAULT_LAB ? ` (the default; --name picks another)` : ""}`;
  if (!names.length) return `${asked}; no lab runs: start one with \`porthole lab up\``;
  const pick = names.map((n) => `--name ${n}`).join(" or ");
  return `${asked}; running: ${names.join(", ")}: add ${pick}, or start this one with \`porthole lab up${name === DEFAULT_LAB ? "" : ` --name ${name}`}\``;
}
