// `porthole status`: its options and its action, apart from commander. It is the command people and
// monitoring run in loops, so main.ts runs it without commander when node's own parseArgs reads its
// command line the way commander would (~20 ms of CPU of a run's ~45 above `node -e 0`: bench/README.md).
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Command } from "commander";
import { hostFiles, pathExists } from "../host/files.ts";
import { readIdentity } from "../peer/local.ts";
import { hubSpecPath, stateDir } from "./paths.ts";

export interface StatusOptions {
  json?: boolean;
  all?: boolean;
  spec?: string;
}

/** The options, for commander (`--flag <value>`, help) and for parseArgs (`type`) alike. */
const OPTIONS = [
  { flag: "--json", help: "machine-readable" },
  { flag: "--all", help: "every forward's own lines (a hub with more than 100 forwards sums them up)" },
  {
    flag: "--spec <file>",
    help: "the spec, as for apply (default: $PORTHOLE_SPEC, ./porthole.yaml, the config directory's)",
  },
] as const;

export function registerStatusCommand(program: Command): void {
  const c = program
    .command("status")
    .description(
      "peers (online, handshake, endpoint, transfer) and forwards (counters, connections, reachable)",
    );
  for (const o of OPTIONS) c.option(o.flag, o.help);
  c.action((o: StatusOptions) => statusAction(o));
}

/**
 * The options of `porthole status ARGS` (ARGS: what follows the word `status`) when parseArgs reads
 * them without doubt: only the declared long options, each value given; null for anything else (help,
 * an unknown or short option, a missing value, an extra argument), which commander then reads and
 * answers as it does every command.
 */
export function plainStatusOptions(args: string[]): StatusOptions | null {
  const options = Object.fromEntries(
    OPTIONS.map((o) => [
      o.flag.slice(2).split(" ")[0],
      { type: o.flag.includes("<") ? "string" : "boolean" },
    ]),
  ) as Record<string, { type: "string" | "boolean" }>;
  try {
    return { ...parseArgs({ args, options, strict: true, allowPositionals: false }).values } as StatusOptions;
  } catch {
    return null;
  }
}

export async function statusAction(o: StatusOptions): Promise<void> {
  // One way to find the spec for every command: --spec here is $PORTHOLE_SPEC for the rest.
  if (o.spec !== undefined) {
    // Checked here, not as it is parsed: the checks load only for this option.
    const { PathText, valid } = await import("./arg.ts");
    const { givenFileExists } = await import("./given-file.ts");
    valid("--spec", PathText)(o.spec);
    givenFileExists("--spec", o.spec, "give the path of a porthole spec");
    process.env.PORTHOLE_SPEC = resolve(o.spec);
  }
  const id = await readIdentity(hostFiles, stateDir());
  if (id) return (await import("./peer-status.ts")).peerStatus(id, !!o.json, !!o.all);
  if (await (await import("./static-peer-status.ts")).staticPeerStatus(!!o.json)) return;
  // Neither side yet and no spec: say both ways in (the hub's "no spec: hub init" is half of it).
  if (!pathExists(hubSpecPath()) && (await import("./side.ts")).thisSide() === "none") {
    const { EXIT, UserError } = await import("./errors.ts");
    // The wrong machine for this command, as every command of one side says on the other (exit 2).
    throw new UserError(
      "this machine is neither a hub nor a peer yet: nothing to show (`porthole hub init --endpoint NAME` on the VPS, `porthole join TOKEN` on a home machine)",
      EXIT.usage,
    );
  }
  return (await import("./hub-status.ts")).hubStatusCommand(!!o.json, !!o.all);
}
