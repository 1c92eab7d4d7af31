// A change to the host: what it says to the user, how to do it, and how to take it back.
import type { Host } from "../host/types.ts";

export interface Step {
  /**
   * "firewall": the iptables side (chains, hooks); "nftables": table inet porthole; "passes": porthole's
   * marked accepts in other owners' iptables FORWARD chains; "conntrack": tracked flows forgotten after
   * a forward change.
   */
  subsystem: "sysctl" | "wireguard" | "nftables" | "firewall" | "passes" | "routing" | "files" | "conntrack";
  /** One readable line: "+ peer rpi 10.8.0.2/32", "~ sysctl net.ipv4.ip_forward = 1 (was 0)". */
  text: string;
  /** May return a note worth showing (e.g. which WireGuard implementation carries the interface). */
  run(host: Host): Promise<unknown>;
  undo(host: Host): Promise<void>;
}

export class ApplyError extends Error {
  constructor(
    message: string,
    readonly rolledBack: boolean,
  ) {
    super(message);
  }
}

/** Runs steps in order; on the first failure undoes the ones done, newest first. */
export async function runSteps(
  host: Host,
  steps: Step[],
  log: (line: string) => void = () => {},
): Promise<void> {
  const done: Step[] = [];
  for (const step of steps) {
    try {
      const note = await step.run(host);
      // An empty note (conntrack had no flow to forget) is no line: the daemon's log had blank events.
      if (typeof note === "string" && note) log(`  ${note}`);
      done.push(step);
    } catch (e) {
      log(`failed: ${step.text}: ${(e as Error).message}`);
      await undoAll(host, done, log);
      throw new ApplyError(
        `${step.text}: ${(e as Error).message}\nthe host was put back as it was before this apply`,
        true,
      );
    }
  }
}

export async function undoAll(host: Host, done: Step[], log: (line: string) => void): Promise<void> {
  for (const step of [...done].reverse()) {
    try {
      await step.undo(host);
      log(`undone: ${step.text}`);
    } catch (e) {
      log(`could not undo ${step.text}: ${(e as Error).message}`);
    }
  }
}
