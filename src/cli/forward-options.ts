// The options `forward add` (on the hub) and `expose` (on a peer) share: one declaration, so their help
// and the request fields they become stay the same on both sides (both check them with
// peer-args.ts's checkSharedForwardOptions before anything else).
import type { Command } from "commander";
import type { AddForwardRequest } from "../protocol/requests.ts";

/** The shared options as commander parses them. */
export interface SharedForwardOptions {
  allow?: string[];
  name?: string;
  shadowHubService?: boolean;
}

/** Adds --allow, --name and --shadow-hub-service to CMD (after its own options); returns CMD. */
export function addSharedForwardOptions(cmd: Command): Command {
  return cmd
    .option("--allow <cidr...>", "only these sources may connect (addresses or prefixes)")
    .option("--name <name>", "a name for the forward")
    .option(
      "--shadow-hub-service",
      "take the public port even if a service on the hub listens on it (admins only)",
    );
}

/** The request fields the shared options set (undefined when not given: the hub's defaults apply). */
export function sharedForwardFields(
  o: SharedForwardOptions,
): Pick<AddForwardRequest, "name" | "allowFrom" | "shadowHubService"> {
  return { name: o.name, allowFrom: o.allow, shadowHubService: o.shadowHubService };
}
