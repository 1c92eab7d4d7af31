// lab up|status|down|ls|exec|shell: the seed's world in network namespaces on this machine.
import { Argument, type Command, Option } from "commander";
import * as z from "zod";
import { runAttached } from "../host/run.ts";
import { LAB_NAME_RE, LAB_NAME_RULE } from "../lab/create.ts";
import { DEFAULT_LAB, labDown, labHints, labStatus, labUp, labUpJoined } from "../lab/lab.ts";
import { LAB_HOSTS, type LabHost } from "../lab/state.ts";
import { listWorlds, openWorld, type World } from "../lab/world.ts";
import { FirewallShape, ModeShape } from "../spec/schema.ts";
import type { Backend, Mode } from "../spec/types.ts";
import { valid } from "./arg.ts";
import { UserError } from "./errors.ts";
import { table } from "./table.ts";

const self = () => [process.execPath, process.argv[1] as string];

/** --name: a lab's name (it becomes namespace and file names, so nothing else is let through). */
const LabName = z.string().superRefine((text, ctx) => {
  if (!LAB_NAME_RE.test(text))
    ctx.addIssue({ code: "custom", message: `is not a lab name; use ${LAB_NAME_RULE}` });
});
const nameOption = (description: string) =>
  new Option("--name <name>", description).argParser(valid("--name", LabName)).default(DEFAULT_LAB);
const hostArgument = () =>
  new Argument("<HOST>", LAB_HOSTS.join(" | ")).argParser(valid("HOST", z.enum(LAB_HOSTS)));

export function registerLabCommands(program: Command): void {
  const lab = program
    .command("lab")
    .description(
      "run the whole system on this machine in network namespaces: client (the internet), hub, home router, peer",
    );
  lab
    .command("up")
    .description("build the lab, apply porthole on hub and peer, serve a WebDAV share from the peer")
    .addOption(nameOption("lab name (several labs can run side by side)"))
    .option(
      "--backend <backend>",
      "hub firewall: nftables or iptables",
      valid("--backend", FirewallShape),
      "nftables" as const,
    )
    .option(
      "--mode <mode>",
      "snat (the blog post's) or transparent (client IP preserved)",
      valid("--mode", ModeShape),
      "snat" as const,
    )
    .option("--static", "no daemons: write one spec and `porthole apply` it on hub and peer (issue-3 style)")
    .action(async (o: { name: string; backend: Backend; mode: Mode; static?: boolean }) => {
      // A name in use is the user's input to change (exit 1), not a host command that failed (it was 3).
      if (openWorld(o.name))
        throw new UserError(
          `lab ${o.name} already exists (\`porthole lab ls\`): \`porthole lab down --name ${o.name}\` removes it, or pick another --name`,
        );
      const world = await (o.static ? labUp : labUpJoined)({
        name: o.name,
        backend: o.backend,
        mode: o.mode,
        porthole: self(),
        log: (l) => console.log(l),
      });
      console.log(labHints(world));
    });
  lab
    .command("status")
    .description("WireGuard status of hub and peer, and the forwards")
    .addOption(nameOption("lab name"))
    .action(async (o: { name: string }) => {
      // As exec and shell say it: the running labs and --name (it was exit 3, "running labs: none").
      if (!openWorld(o.name)) throw new UserError(noLab(o.name));
      console.log(await labStatus(o.name, self()));
    });
  lab
    .command("down")
    .description("remove the lab: processes, namespaces, files (works after a crash too)")
    .addOption(nameOption("lab name"))
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
    .addArgument(hostArgument())
    .argument("<COMMAND...>", "the command and its arguments (after --)")
    .addOption(nameOption("lab name"))
    .allowUnknownOption()
    .addHelpText("after", "\nExample: porthole lab exec hub -- porthole status")
    .action(async (host: LabHost, command: string[], o: { name: string }) => {
      const [world, h] = labHost(o.name, host);
      process.exitCode = await runAttached(world.enterArgv(h, command), labEnv(world, h));
    });
  lab
    .command("shell")
    .description("an interactive shell inside a lab host (exit to leave)")
    .addArgument(hostArgument())
    .addOption(nameOption("lab name"))
    .action(async (host: LabHost, o: { name: string }) => {
      const [world, h] = labHost(o.name, host);
      const env = { ...labEnv(world, h), PS1: `[lab ${world.name}] ${h}# ` };
      process.exitCode = await runAttached(world.enterArgv(h, ["bash", "--norc", "-i"]), env);
    });
}

/** A lab host's environment for a person: its paths, and `porthole` on PATH being this porthole. */
function labEnv(world: World, host: LabHost): NodeJS.ProcessEnv {
  const path = [world.portholeBinDir(self()), process.env.PATH].filter(Boolean).join(":");
  return { ...process.env, ...world.env(host), PATH: path };
}

function labHost(name: string, host: LabHost): [World, LabHost] {
  const world = openWorld(name);
  if (!world) throw new UserError(noLab(name));
  return [world, host];
}

/** Names the labs that do exist and how to pick one (`--name`), or how to start one. */
export function noLab(name: string, names = listWorlds().map((w) => w.name)): string {
  const asked = `there is no lab named ${JSON.stringify(name)}${name === DEFAULT_LAB ? ` (the default; --name picks another)` : ""}`;
  if (!names.length) return `${asked}; no lab runs: start one with \`porthole lab up\``;
  const pick = names.map((n) => `--name ${n}`).join(" or ");
  return `${asked}; running: ${names.join(", ")}: add ${pick}, or start this one with \`porthole lab up${name === DEFAULT_LAB ? "" : ` --name ${name}`}\``;
}
