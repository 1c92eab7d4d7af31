// The peer's agent (`porthole peer run`): without it the tunnel stays as it is, but nothing takes the hub's changes, follows a
// new home address, renews the hub's session or answers the hub's outside probes.
import type { Outcome, PeerScene } from "./peer-scene.ts";

/**
 * ok with its pid when the agent runs; fail when a joined peer (peer.json) has none; null for a peer
 * set up with `porthole apply`, which has no agent.
 */
export async function checkAgent(s: PeerScene): Promise<Outcome | null> {
  if (!s.api) return null;
  const d = await s.host.services.daemon(s.stateDir, "peer");
  if (d) return { status: "ok", found: `porthole peer run is running (pid ${d.pid}, since ${d.startedAt})` };
  return {
    status: "fail",
    found:
      "porthole peer run is NOT running: the tunnel stays as it is, but nothing takes the hub's changes, follows a new home address, renews the session with the hub, or answers the hub's outside probes",
    fix: "systemctl start porthole-peer   (or run `porthole peer run` under your own supervisor)",
  };
}
