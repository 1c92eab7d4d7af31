// What the lab needs from the machine, checked up front so a missing piece is one clear sentence
// instead of a failure halfway through building namespaces.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Programs the lab world itself runs (porthole's own drivers may need more). */
export const LAB_TOOLS = [
  "ip",
  "nft",
  "nsenter",
  "unshare",
  "mount",
  "sleep",
  "sysctl",
  "conntrack",
  "curl",
  "wg",
  "wireguard-go",
  "rclone",
  "ping",
] as const;

export function findProgram(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Everything missing for the lab, as sentences; empty when the machine can run it. */
export function labProblems(tools: readonly string[] = LAB_TOOLS): string[] {
  const problems: string[] = [];
  if (process.platform !== "linux") problems.push(`the lab needs Linux (this is ${process.platform})`);
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    problems.push("the lab needs root (network and mount namespaces): run it with sudo");
  }
  const missing = tools.filter((t) => !findProgram(t));
  if (missing.length) {
    problems.push(
      `missing programs: ${missing.join(", ")} (run ./scripts/setup.sh, or apt-get install them)`,
    );
  }
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
  } catch {
    problems.push("/dev/net/tun is not available (wireguard-go needs TUN)");
  }
  return problems;
}
