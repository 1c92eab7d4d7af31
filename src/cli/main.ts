// porthole's command line: one small module per group of commands, loaded when its command runs.

const VERSION = "0.1.0";

// A reader that stops early (`porthole status | head`) closes the pipe. The command still runs to its
// end (an apply cut short would leave the host half-changed); what it prints after that goes nowhere.
for (const out of [process.stdout, process.stderr])
  out.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") throw e;
  });

// `porthole --version` answers before anything else is loaded (the bundle splits at each import()).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  console.log(VERSION);
  process.exit(0);
}

/** Ends the run for an error thrown by a command: its message and exit code (README's exit codes). */
async function fail(e: unknown): Promise<void> {
  const { EXIT, UserError } = await import("./errors.ts");
  if (e instanceof UserError) {
    console.error(`porthole: ${e.message}`);
    process.exitCode = e.code;
    return;
  }
  // commander only for what it threw: `status` run without it (a monitoring loop's exit 3) loads none.
  const { CommanderError } = await import("commander");
  if (e instanceof CommanderError) {
    // Help asked for (`--help`, `help CMD`) and --version end with exitCode 0; help shown because a
    // command was left out (`porthole peer`) and every parse error end with 1: a usage error.
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    console.error(process.env.PORTHOLE_DEBUG ? e : `porthole: ${(e as Error).message ?? e}`);
    process.exitCode = EXIT.host;
  }
}

// A function, not top-level await: the bundle is CommonJS (scripts/bundle.mjs).
async function main(): Promise<void> {
  // `porthole status` with plain options runs without commander (status-command.ts says why); help,
  // a typo or anything else parseArgs is not sure of goes through commander like every command.
  if (argv[0] === "status") {
    const { plainStatusOptions, statusAction } = await import("./status-command.ts");
    const options = plainStatusOptions(argv.slice(1));
    if (options) return statusAction(options).catch(fail);
  }

  const { Command } = await import("commander");
  const { EXIT } = await import("./errors.ts");
  const { groupsFor, registerGroup } = await import("./commands.ts");
  const { checkSide } = await import("./side.ts");
  const { refuseExtraArguments } = await import("./extra-args.ts");

  const program = new Command("porthole")
    .description("Serve home machines on the public internet through a VPS, over WireGuard with kernel NAT.")
    .version(VERSION)
    .exitOverride()
    // commander's own usage errors start like porthole's ("porthole: missing required argument 'PUBLIC'").
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "porthole: ")) })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      "\nExit codes: 0 ok; 1 invalid spec or input, or refused by the hub (nothing changed); 2 usage error (nothing changed); 3 a host command failed (host restored) or the hub daemon did not answer; 4 a doctor check failed.",
    );

  refuseExtraArguments(program);
  checkSide(program);
  // Only the module of the command being run is loaded (src/cli/commands.ts).
  for (const g of groupsFor(argv)) await registerGroup(program, g);

  // `porthole` alone and `porthole help` ask for help: it goes to stdout with exit 0.
  const args = process.argv.slice(2);
  if (args.length === 0 || (args.length === 1 && args[0] === "help")) {
    console.log(program.helpInformation());
    process.exit(EXIT.ok);
  }

  await program.parseAsync(process.argv).catch(fail);
}

void main();
