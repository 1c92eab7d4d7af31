// porthole's command line: one small module per group of commands.
import { Command, CommanderError } from "commander";
import { registerApplyCommands } from "./apply-commands.ts";
import { EXIT, UserError } from "./errors.ts";
import {
  hubStatusCommand,
  registerForwardCommands,
  registerHubCommands,
  registerHubPeerCommands,
} from "./hub-commands.ts";
import { registerImportCommand } from "./import-command.ts";
import { registerKeyCommands } from "./key-commands.ts";
import { registerLabCommands } from "./lab-commands.ts";
import { peerIdentity, peerStatus, registerPeerCommands } from "./peer-commands.ts";
import { checkSide } from "./side.ts";
import { registerSpecCommands } from "./spec-commands.ts";

const program = new Command("porthole")
  .description("Serve home machines on the public internet through a VPS, over WireGuard with kernel NAT.")
  .version("0.1.0")
  .exitOverride()
  .showHelpAfterError("(run with --help for usage)")
  .addHelpText(
    "after",
    "\nExit codes: 0 ok; 1 invalid spec or input (nothing changed); 2 usage error; 3 a host command failed (host restored).",
  );

checkSide(program);
registerSpecCommands(program);
registerKeyCommands(program);
registerImportCommand(program);
registerApplyCommands(program);
registerLabCommands(program);
registerHubCommands(program);
const peerGroup = program
  .command("peer")
  .description("peers: add|rm|ls on the hub; run (the agent) on a peer");
registerHubPeerCommands(peerGroup);
registerPeerCommands(program, peerGroup);
registerForwardCommands(program);
program
  .command("status")
  .description(
    "peers (online, handshake, endpoint, transfer) and forwards (counters, connections, reachable)",
  )
  .option("--json", "machine-readable")
  .action(async (o: { json?: boolean }) => {
    const id = await peerIdentity();
    await (id ? peerStatus(id, !!o.json) : hubStatusCommand(!!o.json));
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode =
      e.code === "commander.helpDisplayed" || e.code === "commander.version" ? EXIT.ok : EXIT.usage;
  } else if (e instanceof UserError) {
    console.error(`porthole: ${e.message}`);
    process.exitCode = e.code;
  } else {
    console.error(process.env.PORTHOLE_DEBUG ? e : `porthole: ${(e as Error).message ?? e}`);
    process.exitCode = EXIT.host;
  }
}
