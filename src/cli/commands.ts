// Which module registers each top-level command, so a run loads only the group it needs (the
// bundle splits at these dynamic imports): `porthole --version` evaluates commander and nothing else.
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
      return (await import("./status-command.ts")).registerStatusCommand(program);
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
