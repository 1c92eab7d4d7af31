// Which module registers each top-level command, so a run loads only the group it needs (the
// bundle splits at these dynamic imports): `porthole --version` evaluates commander and nothing else.
import { resolve } from "node:path";
import { Command } from "commander";

// "agent" is the peer's own commands without the hub's `peer add|rm|ls` (which load the hub's code);
// "peer" registers both.
type Group =
  | "spec"
  | "key"
  | "import"
  | "apply"
  | "lab"
  | "hub"
  | "peer"
  | "agent"
  | "forward"
  | "status"
  | "doctor"
  | "trace"
  | "uninstall";

/** Top-level command name -> its group (test/unit/cli-commands.test.ts checks this against the modules). */
export const COMMAND_GROUP: Record<string, Group> = {
  validate: "spec",
  render: "spec",
  keygen: "key",
  pubkey: "key",
  import: "import",
  apply: "apply",
  down: "apply",
  confirm: "apply",
  "revert-unconfirmed": "apply",
  lab: "lab",
  hub: "hub",
  peer: "peer",
  join: "agent",
  expose: "agent",
  unexpose: "agent",
  exposed: "agent",
  forward: "forward",
  status: "status",
  doctor: "doctor",
  trace: "trace",
  uninstall: "uninstall",
};

/** The order `porthole --help` lists the groups in. */
export const GROUPS: Group[] = [
  "spec",
  "key",
  "import",
  "apply",
  "lab",
  "hub",
  "peer",
  "forward",
  "status",
  "doctor",
  "trace",
  "uninstall",
];

/** Registers one group's commands on PROGRAM, loading its module. */
export async function registerGroup(program: Command, group: Group): Promise<void> {
  switch (group) {
    case "spec":
      return (await import("./spec-commands.ts")).registerSpecCommands(program);
    case "key":
      return (await import("./key-commands.ts")).registerKeyCommands(program);
    case "import":
      return (await import("./import-command.ts")).registerImportCommand(program);
    case "apply":
      return (await import("./apply-commands.ts")).registerApplyCommands(program);
    case "lab":
      return (await import("./lab-commands.ts")).registerLabCommands(program);
    case "hub":
      return (await import("./hub-commands.ts")).registerHubCommands(program);
    case "peer": {
      const peerGroup = program
        .command("peer")
        .description("peers: add|rm|ls on the hub; run (the agent) on a peer");
      (await import("./hub-peer-commands.ts")).registerHubPeerCommands(peerGroup);
      return (await import("./peer-commands.ts")).registerPeerCommands(program, peerGroup);
    }
    case "agent":
      // `peer run` is registered on a detached group: only `porthole peer ...` needs it.
      return (await import("./peer-commands.ts")).registerPeerCommands(program, new Command("peer"));
    case "forward":
      return (await import("./forward-commands.ts")).registerForwardCommands(program);
    case "doctor":
      return (await import("./doctor-command.ts")).registerDoctorCommand(program);
    case "uninstall":
      return (await import("./uninstall-command.ts")).registerUninstallCommand(program);
    case "trace":
      return (await import("./trace-command.ts")).registerTraceCommand(program);
    case "status":
      program
        .command("status")
        .description(
          "peers (online, handshake, endpoint, transfer) and forwards (counters, connections, reachable)",
        )
        .option("--json", "machine-readable")
        .option("--all", "every forward's own lines (a hub with more than 100 forwards sums them up)")
        .option(
          "--spec <file>",
          "the spec, as for apply (default: $PORTHOLE_SPEC, ./porthole.yaml, the config directory's)",
        )
        .action(async (o: { json?: boolean; all?: boolean; spec?: string }) => {
          // One way to find the spec for every command: --spec here is $PORTHOLE_SPEC for the rest.
          if (o.spec !== undefined) {
            // Checked here, not as it is parsed: this module loads for every command, the checks only for this one.
            const { PathText, valid } = await import("./arg.ts");
            const { givenFileExists } = await import("./given-file.ts");
            valid("--spec", PathText)(o.spec);
            givenFileExists("--spec", o.spec, "give the path of a porthole spec");
            process.env.PORTHOLE_SPEC = resolve(o.spec);
          }
          const [{ readIdentity }, { hostFiles }, { stateDir }] = await Promise.all([
            import("../peer/local.ts"),
            import("../host/files.ts"),
            import("./paths.ts"),
          ]);
          const id = await readIdentity(hostFiles, stateDir());
          if (id) return (await import("./peer-commands.ts")).peerStatus(id, !!o.json, !!o.all);
          if (await (await import("./static-peer-status.ts")).staticPeerStatus(!!o.json)) return;
          // Neither side yet and no spec: say both ways in (the hub's "no spec: hub init" is half of it).
          const [{ thisSide }, { hubSpecPath }, { pathExists }, { UserError }] = await Promise.all([
            import("./side.ts"),
            import("./paths.ts"),
            import("../host/files.ts"),
            import("./errors.ts"),
          ]);
          if (thisSide() === "none" && !pathExists(hubSpecPath()))
            throw new UserError(
              "this machine is neither a hub nor a peer yet: nothing to show (`porthole hub init --endpoint NAME` on the VPS, `porthole join TOKEN` on a home machine)",
            );
          return (await import("./hub-status.ts")).hubStatusCommand(!!o.json, !!o.all);
        });
      return;
  }
}

/**
 * The groups a command line needs: the one its command word names; none for a bare --version; all
 * for help, no command or an unknown one (commander then lists or suggests from all of them).
 */
export function groupsFor(args: string[]): Group[] {
  const word = args.find((a) => !a.startsWith("-"));
  if (word === undefined) {
    const help = args.some((a) => a === "-h" || a === "--help");
    return args.some((a) => a === "-V" || a === "--version") && !help ? [] : GROUPS;
  }
  const g = COMMAND_GROUP[word];
  return g ? [g] : GROUPS;
}
