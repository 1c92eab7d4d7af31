// The reconcile context for the machine this CLI runs on.

import { realHost } from "../host/real-host.ts";
import type { Context } from "../reconcile/reconcile.ts";
import { daemonManaged, keyFile, stateDir } from "./paths.ts";

export function hostContext(log: (line: string) => void = (l) => console.log(l)): Context {
  const unitEnv: Record<string, string> = {};
  for (const k of ["PORTHOLE_CONFIG_DIR", "PORTHOLE_STATE_DIR", "PORTHOLE_ROOT", "PORTHOLE_SPEC"]) {
    const v = process.env[k];
    if (v) unitEnv[k] = v;
  }
  return {
    host: realHost,
    keyFile: keyFile(),
    stateDir: stateDir(),
    root: process.env.PORTHOLE_ROOT ?? "/",
    bin: process.env.PORTHOLE_BIN ?? "/usr/local/bin/porthole",
    unitEnv,
    service: daemonManaged() ? "daemon" : "oneshot",
    // Set by the daemon's unit (see compile/systemd.ts): its file system is read-only there.
    leaveUnit: !!process.env.PORTHOLE_UNIT,
    log,
  };
}
