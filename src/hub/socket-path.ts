// Its own module so the CLI can reach the daemon without loading the daemon's code.
import { join } from "node:path";

/** The hub daemon's API socket (unix, 0600) in the state directory. */
export const socketPath = (stateDir: string) => join(stateDir, "api.sock");
