// Each command knows which side it belongs to (the hub or a peer). Run on the other side, or on a
// machine that is neither yet, it says what to run instead there and stops before writing anything
// (`peer add` on a peer used to leave a join token in the peer's state directory).
import { join } from "node:path";
import type { Command } from "commander";
import { pathExists, readTextNow } from "../host/files.ts";
import { peerFile } from "../peer/local.ts";
import { EXIT, UserError } from "./errors.ts";
import { stateDir } from "./paths.ts";

export type Side = "hub" | "peer" | "none";

/** This machine: a peer once `join` wrote peer.json, a hub once `hub init` or `apply` made it one. */
export function thisSide(): Side {
  if (pathExists(peerFile(stateDir()))) return "peer";
  if (pathExists(join(stateDir(), "hub-runtime.json"))) return "hub";
  try {
    const applied = JSON.parse(readTextNow(join(stateDir(), "applied.json"))) as { role?: string };
    if (applied.role === "hub") return "hub";
    if (applied.role === "peer") return "peer";
  } catch {
    // nothing applied here
  }
  return "none";
}

interface Rule {
  side: "hub" | "peer";
  /** What to run on the other side instead (the peer's equivalent of a hub command, or vice versa). */
  instead?: string;
}

/** Commands by their path ("peer add"); those not listed run anywhere. */
const RULES: Record<string, Rule> = {
  "hub init": { side: "hub" },
  "hub run": { side: "hub", instead: "`porthole peer run` (the peer agent)" },
  "hub webhook": { side: "hub" },
  "peer add": { side: "hub" },
  "peer rm": { side: "hub", instead: "`porthole down` (to leave the hub from this peer)" },
  "peer ls": { side: "hub", instead: "`porthole status`" },
  "forward add": { side: "hub", instead: "`porthole expose PUBLIC --to PORT`" },
  "forward rm": { side: "hub", instead: "`porthole unexpose PUBLIC-OR-NAME`" },
  "forward ls": { side: "hub", instead: "`porthole exposed`" },
  // Nothing on a peer shows the hub's kernel at work: no "equivalent" to offer.
  trace: { side: "hub" },
  join: {
    side: "peer",
    instead: "`porthole peer add NAME`, then `porthole join TOKEN` on the machine that joins",
  },
  "peer run": { side: "peer", instead: "`porthole hub run` (the hub daemon)" },
  expose: { side: "peer", instead: "`porthole forward add --port PUBLIC --peer NAME --target-port PORT`" },
  unexpose: { side: "peer", instead: "`porthole forward rm NAME` (see `porthole forward ls`)" },
  exposed: { side: "peer", instead: "`porthole forward ls`" },
};

/** The command's words after `porthole` ("forward add"). */
export const path = (c: Command): string => {
  const names: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name());
  return names.join(" ");
};

/** The reason this command cannot run here, or null when it can. */
export function wrongSide(command: string, here: Side): string | null {
  const rule = RULES[command];
  if (!rule || rule.side === here) return null;
  if (command === "hub init" && here === "hub") return null;
  if (here === "none") {
    if (command === "hub init" || command === "join") return null;
    return rule.side === "hub"
      ? `\`porthole ${command}\` runs on the hub, and this machine is not one: make it the hub with \`porthole hub init --endpoint NAME\`, or run the command on the hub`
      : `\`porthole ${command}\` runs on a peer, and this machine has not joined a hub: run \`porthole join TOKEN\` (get a token on the hub with \`porthole peer add NAME\`)`;
  }
  if (command === "hub init")
    return "this machine is a peer of a hub already: run `porthole down` first to leave it, then `porthole hub init`";
  const there = rule.side === "hub" ? "the hub" : "a peer";
  const instead = rule.instead
    ? `; here, on ${here === "hub" ? "the hub" : "a peer"}, the equivalent is ${rule.instead}`
    : "";
  return `\`porthole ${command}\` runs on ${there}, and this machine is ${here === "hub" ? "the hub" : "a peer"}: run it there${instead}. Nothing was changed.`;
}

/** Checks every command before it runs (commander's preAction hook). */
export function checkSide(program: Command): void {
  program.hook("preAction", (_root, action) => {
    const problem = wrongSide(path(action), thisSide());
    if (problem) throw new UserError(problem, EXIT.usage);
  });
}
