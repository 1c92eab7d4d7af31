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
