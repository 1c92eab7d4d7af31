// What porthole applied last on this host, kept in the state directory (the previous one too):
// the source for re-applying at boot, for rolling back, and for `down`.
import { join } from "node:path";
import type { FirewallPlan, PolicyRouting } from "../compile/plan.ts";
import type { Host } from "../host/types.ts";

export interface AppliedRecord {
  host: string;
  role: "hub" | "peer";
  specText: string;
  appliedAt: string;
  wgInterface: string;
  firewall: FirewallPlan;
  routing?: PolicyRouting;
  /** sysctl values as they were before porthole first changed them, restored by `down`. */
  sysctlBefore: Record<string, string>;
  files: string[];
  /** Where peers were last seen (public key -> ip:port), to reach them at once after a restart. */
  endpoints?: Record<string, string>;
}

const file = (stateDir: string) => join(stateDir, "applied.json");

export async function readApplied(
  host: Host,
  stateDir: string,
  which: "current" | "previous" = "current",
): Promise<AppliedRecord | null> {
  const text = await host.files.read(which === "current" ? file(stateDir) : `${file(stateDir)}.prev`);
  return text ? (JSON.parse(text) as AppliedRecord) : null;
}

export async function writeApplied(
  host: Host,
  stateDir: string,
  record: AppliedRecord | null,
): Promise<void> {
  // The current record becomes the previous one: linked into place where the host can (no re-read
  // and rewrite of a record that holds the whole spec and ruleset), else copied.
  if (host.files.keep) await host.files.keep(file(stateDir), `${file(stateDir)}.prev`);
  else {
    const current = await host.files.read(file(stateDir));
    if (current) await host.files.write(`${file(stateDir)}.prev`, current, 0o600);
  }
  if (record) await host.files.write(file(stateDir), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  else await host.files.remove(file(stateDir));
}
