// Where porthole keeps things on a host; overridable for tests, the lab and unusual hosts.
import { existsSync } from "node:fs";
import { join } from "node:path";

export const configDir = () => process.env.PORTHOLE_CONFIG_DIR ?? "/etc/porthole";
export const stateDir = () => process.env.PORTHOLE_STATE_DIR ?? "/var/lib/porthole";
export const keyFile = () => join(configDir(), "private.key");

/** --spec, else $PORTHOLE_SPEC, else ./porthole.yaml when present, else the config directory's. */
export function specPath(given?: string): string {
  if (given) return given;
  if (process.env.PORTHOLE_SPEC) return process.env.PORTHOLE_SPEC;
  return existsSync("porthole.yaml") ? "porthole.yaml" : join(configDir(), "porthole.yaml");
}
