// systemd, when it runs this host (containers, CI and the lab have none).
import { existsSync } from "node:fs";
import { run } from "./run.ts";

export const hasSystemd = () => existsSync("/run/systemd/system");

export async function enableNow(unit: string): Promise<void> {
  await run(["systemctl", "daemon-reload"]);
  await run(["systemctl", "enable", "--now", unit]);
}

/** Stops and disables a unit (so `Restart=always` does not bring it back); a unit systemd does not know is fine. */
export async function disableNow(unit: string): Promise<void> {
  await run(["systemctl", "disable", "--now", unit], { allowFail: true });
}

/** Whether systemd knows the unit as running (active, activating, ...) or enabled at boot. */
export async function unitInUse(unit: string): Promise<{ active: boolean; enabled: boolean }> {
  const [active, enabled] = await Promise.all([
    run(["systemctl", "is-active", "--quiet", unit], { allowFail: true }),
    run(["systemctl", "is-enabled", "--quiet", unit], { allowFail: true }),
  ]);
  return { active: active.code === 0, enabled: enabled.code === 0 };
}

/** Makes systemd forget unit files that were removed. */
export async function daemonReload(): Promise<void> {
  await run(["systemctl", "daemon-reload"]);
}
