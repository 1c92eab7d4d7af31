// The peer's checks, in the order a person would look: the tunnel, the hub's name and API, each
// forward's target here, the path MTU, transparent routing, the clock.
import { checkClock } from "./peer-clock.ts";
import { checkHandshake, checkHubApi } from "./peer-handshake.ts";
import { checkHubName } from "./peer-hub-name.ts";
import { checkPathMtu } from "./peer-path-mtu.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";
import { checkTargets } from "./peer-targets.ts";
import { checkTransparent } from "./peer-transparent.ts";

export interface NamedOutcome {
  /** "handshake", "target share tcp", … */
  name: string;
  outcome: Outcome;
}

/** Every check that applies to this peer; a check that throws is reported as unknown with the error. */
export async function runPeerChecks(s: PeerScene): Promise<NamedOutcome[]> {
  const guard = async (name: string, fn: () => Promise<Outcome | null>): Promise<NamedOutcome[]> => {
    try {
      const o = await fn();
      return o ? [{ name, outcome: o }] : [];
    } catch (e) {
      return [{ name, outcome: { status: "unknown", found: `the check failed: ${(e as Error).message}` } }];
    }
  };
  // Independent probes run side by side; the path MTU search (up to ~10 s when packets are lost) is the slowest.
  const [handshake, api, name, targets, mtu, transparent, clock] = await Promise.all([
    guard("handshake", () => checkHandshake(s)),
    guard("hub api", () => checkHubApi(s)),
    guard("hub name", () => checkHubName(s)),
    checkTargets(s).then(
      (list) => list.map((t) => ({ name: `target ${t.name}`, outcome: t.outcome })),
      (e: Error) => [
        { name: "targets", outcome: { status: "unknown" as const, found: `the check failed: ${e.message}` } },
      ],
    ),
    guard("path mtu", () => checkPathMtu(s)),
    guard("transparent", () => checkTransparent(s)),
    guard("clock", () => checkClock(s)),
  ]);
  return [...handshake, ...api, ...name, ...targets, ...mtu, ...transparent, ...clock];
}
