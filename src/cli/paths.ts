// Where porthole keeps things on a host; overridable for tests, the lab and unusual hosts.
import { join } from "node:path";
import { pathExists } from "../host/files.ts";

export const configDir = () => process.env.PORTHOLE_CONFIG_DIR ?? "/etc/porthole";
export const stateDir = () => process.env.PORTHOLE_STATE_DIR ?? "/var/lib/porthole";
export const keyFile = () => join(configDir(), "private.key");

/** --spec, else $PORTHOLE_SPEC, else ./porthole.yaml when present, else the config directory's. */
export function specPath(given?: string): string {
  if (given) return given;
  if (process.env.PORTHOLE_SPEC) return process.env.PORTHOLE_SPEC;
  return pathExists("porthole.yaml") ? "porthole.yaml" : join(configDir(), "porthole.yaml");
}

/**
 * The hub daemon's own spec: $PORTHOLE_SPEC (which --spec sets), else the config directory's. Never
 * ./porthole.yaml: `hub init` or `forward add` run in a folder that holds some spec must not make it
 * the hub's, while the daemon under systemd (working directory /) goes on reading the other one.
 */
export const hubSpecPath = () => process.env.PORTHOLE_SPEC ?? join(configDir(), "porthole.yaml");

/** Hosts set up with `hub init` or `join` run porthole's daemon; others re-apply saved state at boot. */
export function daemonManaged(): boolean {
  return pathExists(join(stateDir(), "hub-runtime.json")) || pathExists(join(stateDir(), "peer.json"));
}
