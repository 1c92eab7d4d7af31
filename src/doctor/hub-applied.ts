// Each agent peer applied the spec the hub serves it, as its agent reported to the running daemon
// (GET /v1/peers' `applied`; hub/applied.ts judges). The hub's probe of a target comes from its own
// tunnel address: clients reach an agent peer through the SNAT pool's routes and allowed IPs (and a
// transparent forward's mark route) that only the peer's apply puts there, so a peer behind or failing
// is what makes a forward that answers the hub fail its clients.
import type { PeerApplied } from "../protocol/responses.ts";
import type { PeerStatus } from "../protocol/status.ts";
import { inStep } from "../protocol/status-text.ts";
import type { Check, CheckResult } from "./check.ts";
import type { HubContext } from "./hub-context.ts";

/** Where to look on the peer (its own doctor and its agent's log). */
const onPeer = (name: string) => [
  `on ${name}: porthole doctor (the agent check, and what stops its apply)`,
  `on ${name}: journalctl -u porthole-peer (the agent's log: each apply, and why one failed)`,
];

/** One agent peer's result from its judged side of the spec: ok, fail or unknown as status's line says it. */
export function judgeApplied(name: string, a: PeerApplied): CheckResult {
  const found = `${name}: ${a.note}`;
  const known = inStep(a);
  if (known) return { id: "applied", status: "ok", found };
  if (a.state === "unreported")
    return {
      id: "applied",
      status: "unknown",
      found,
      fix: [`on ${name}: upgrade porthole to the hub's version, then systemctl restart porthole-peer`],
    };
  // Failed; or behind (it fetches within a tick) or not heard since the hub started: not known either way.
  return { id: "applied", status: known === false ? "fail" : "unknown", found, fix: onPeer(name) };
}

export const applied: Check<HubContext> = {
  id: "applied",
  about: "each agent peer applied the spec the hub serves it, as its agent reported to the daemon",
  run: async (ctx) => {
    // A hub managed with `porthole apply` runs no API: no agent reports, and its peers are applied by
    // hand (`porthole apply` there). Nothing to check, and nothing claimed.
    if (ctx.managedBy === "apply") return [];
    // No agent peer (devices run no agent): nothing reports, so nothing to check; no row, not "ok".
    if (!ctx.spec.peers.some((p) => p.kind === "agent")) return [];
    // The reports go to the daemon: without it (or from an older one) nothing is known of the peers' side.
    let why = "the hub daemon is not running (see the daemon check); the agents report to it";
    let judged: PeerStatus[] = [];
    if (ctx.daemonPeers) {
      try {
        judged = (await ctx.daemonPeers()).filter((p) => p.applied);
        why = "the hub daemon does not say (older than this porthole?)";
      } catch (e) {
        why = `the daemon did not say (${(e as Error).message.split("\n")[0]})`;
      }
    }
    if (!judged.length)
      return {
        id: "applied",
        status: "unknown",
        found: `what the agent peers applied is not known: ${why}`,
        fix: ["systemctl start porthole-hub (the agents report to it), then porthole doctor again"],
      };
    return judged.map((p) => judgeApplied(p.name, p.applied as PeerApplied));
  },
};
