// What the hub's checks look at besides the Host: the spec it last applied and its plan.
import { compile } from "../compile/compile.ts";
import type { Host } from "../host/types.ts";
import type { HostPlan } from "../plan/plan.ts";
import type { ReachabilityReply } from "../protocol/responses.ts";
import type { PeerStatus } from "../protocol/status.ts";
import { readApplied } from "../reconcile/state.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { NothingToCheck } from "./check.ts";

export interface HubContext {
  host: Host;
  spec: Spec;
  plan: HostPlan;
  stateDir: string;
  /** "daemon": set up with `hub init` (the hub daemon keeps it); "apply": managed with `porthole apply`. */
  managedBy: "daemon" | "apply";
  /** Asks the running hub daemon to have a peer probe the public ports (absent: no daemon to ask). */
  reachability?: () => Promise<ReachabilityReply>;
  /** What is wrong with the daemon's spec file (null: nothing); absent for a hub managed with apply. */
  specProblem?: () => Promise<string | null>;
  /**
   * The peers as the running hub daemon sees them (GET /v1/peers): with `receivedSecondsAgo`, which only
   * its watch of the peers' received bytes (every 2 s) knows. Absent: no daemon to ask.
   */
  daemonPeers?: () => Promise<PeerStatus[]>;
}

/**
 * The hub's context from what it applied last (applied.json in `stateDir`): the spec porthole put on
 * this machine. Throws NothingToCheck saying what to run when nothing (or a peer's part) was applied
 * here, an Error when the applied spec does not load.
 */
export async function hubContext(
  host: Host,
  stateDir: string,
  managedBy: HubContext["managedBy"],
): Promise<HubContext> {
  const rec = await readApplied(host, stateDir);
  if (rec?.role !== "hub")
    throw new NothingToCheck(
      // Reached on a hub taken down (its spec and key stay), where `hub init` refuses: apply first.
      `nothing of the hub is applied on this machine (no hub record in ${stateDir}/applied.json), as after \`porthole down\`, which keeps the spec and key: \`porthole apply\` brings the hub back from its spec, then start its daemon (\`systemctl enable --now porthole-hub\`, or \`porthole hub run\` under your own supervisor); a machine with no hub spec yet: \`porthole hub init --endpoint NAME\``,
    );
  const r = loadSpec(rec.specText, "applied.json");
  if (!r.ok) throw new Error(`the applied spec in ${stateDir}/applied.json does not load:\n${r.report}`);
  return { host, spec: await judged(host, r.spec), plan: compile(r.spec, rec.host), stateDir, managedBy };
}

/**
 * The spec as the checks judge it: with `publicInterface: auto`, the interface the default route leaves
 * by when there is exactly one (porthole's rules need no name, but a firewall's rules that match on
 * interfaces, firewalld's zones or Docker's, can only be decided for a named one).
 */
async function judged(host: Host, spec: Spec): Promise<Spec> {
  if (spec.hub.publicInterface !== "auto") return spec;
  const devs = (await host.net.defaultInterfaces()).filter((d) => d !== spec.hub.interface);
  const [only] = devs;
  return devs.length === 1 && only ? { ...spec, hub: { ...spec.hub, publicInterface: only } } : spec;
}

/** The hub's public interfaces as the spec names them ("auto": every one but the tunnel and loopback). */
export function isPublicInterface(ctx: HubContext, iface: string): boolean {
  const { hub } = ctx.spec;
  if (hub.publicInterface === "auto") return iface !== hub.interface && iface !== "lo";
  return iface === hub.publicInterface;
}
