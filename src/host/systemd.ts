// systemd, when it runs this host (containers, CI and the lab have none).
import { existsSync } from "node:fs";
import { run } from "./run.ts";

export const hasSystemd = () => existsSync("/run/systemd/system");

export async function enableNow(unit: string): Promise<void> {
  await run(["systemctl", "daemon-reload"]);
  await run(["systemctl", "enable", "--now", unit]);
}
