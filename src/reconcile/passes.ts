// Other owners' firewalls: porthole's marked accepts in iptables FORWARD where a foreign drop would
// stop the tunnel's traffic (either flavour), and the drops it cannot override, for the user.

import { analyze, findingLines, foreignRulesets, hubProbes } from "../foreign/findings.ts";
import type { Ruleset } from "../foreign/model.ts";
import type { ForeignSnapshot, PassTarget } from "../host/foreign.ts";
import type { HostPlan } from "../plan/plan.ts";
import type { FirewallFinding } from "../protocol/status.ts";
import { xtablesCommand } from "../protocol/status-text.ts";
import type { Spec } from "../spec/types.ts";
import type { Step } from "./steps.ts";

const targetOf = (rs: Ruleset): PassTarget => ({
  flavour: rs.source === "iptables-legacy" ? "legacy" : "nft",
  family: rs.family === "ip6" ? 6 : 4,
});
const key = (t: PassTarget) => `${t.flavour}/${t.family}`;

export interface ForeignResult {
  steps: Step[];
  /** Drops porthole cannot work around (other nft tables, INPUT drops): each with its fix. */
  findings: FirewallFinding[];
  /** Drops the passes of `steps` would work around (not there yet): each a FORWARD drop in an iptables flavour. */
  unpassed: FirewallFinding[];
}

/**
 * Pass rules to add or remove, and what is left for the user (on the hub: only the hub forwards
 * through its own filter; a peer's forwarding, Docker's, is not porthole's). Needed in a flavour and
 * family whose FORWARD drops the tunnel's traffic without them; never in the flavour porthole's own
 * iptables chains live in (its hook accepts its traffic there).
 */
export function diffForeign(plan: HostPlan, spec: Spec, snap: ForeignSnapshot): ForeignResult {
  const iface = plan.wireguard.interface;
  if (plan.role !== "hub") return { steps: [], findings: [], unpassed: [] };
  const rulesets = foreignRulesets(snap);
  // No foreign input/forward chain at all (the usual hub): nothing to judge, and no probes to build
  // (~130 ms at 10,000 forwards).
  if (!rulesets.some((rs) => Object.values(rs.chains).some((c) => c.hook)))
    return { steps: [], findings: [], unpassed: [] };
  const probes = hubProbes(spec, plan.targets);
  const own = plan.firewall.backend === "iptables" ? snap.iptables : null;
  const ctx = {
    wgInterface: iface,
    listenPort: spec.hub.listenPort,
    apiPort: spec.hub.apiPort,
    ownFlavour: own,
  };
  const needed = new Map<string, { target: PassTarget; finding: FirewallFinding }>();
  for (const f of analyze(rulesets, probes, { ...ctx, ignorePasses: true })) {
    if (!f.passable) continue;
    const target = targetOf({ source: f.source, family: f.family } as Ruleset);
    if (target.flavour !== own) needed.set(key(target), { target, finding: f });
  }
  const have = new Map(
    rulesets
      .filter(
        (rs) => rs.source !== "nft" && Object.values(rs.chains).some((c) => c.rules.some((r) => r.pass)),
      )
      .map((rs) => [key(targetOf(rs)), targetOf(rs)]),
  );
  const steps: Step[] = [];
  const unpassed: FirewallFinding[] = [];
  for (const [k, { target, finding: f }] of needed) {
    if (have.has(k)) continue;
    unpassed.push(f);
    const cmd = xtablesCommand(f.source, f.family);
    steps.push({
      subsystem: "passes",
      text: `+ pass: ${cmd} filter FORWARD drops forwarded traffic by ${f.rule === null ? "policy" : `rule \`${f.rule}\``} (Docker? ufw?); inserted ACCEPT for ${iface} (in and out) at its top, marked "porthole-pass" (porthole's own chain still filters)`,
      run: (h) => h.firewall.addPass(iface, target),
      undo: async (h) => void (await h.firewall.removePasses(target)),
    });
  }
  for (const [k, target] of have) {
    if (needed.has(k)) continue;
    steps.push({
      subsystem: "passes",
      text: `- pass: ${xtablesCommand(target.flavour === "legacy" ? "iptables-legacy" : "iptables-nft", target.family === 6 ? "ip6" : "ip")} filter FORWARD no longer drops the tunnel's traffic; removed porthole's marked accepts`,
      run: async (h) => void (await h.firewall.removePasses(target)),
      undo: (h) => h.firewall.addPass(iface, target),
    });
  }
  const findings = analyze(rulesets, probes, ctx).filter((f) => !f.passable);
  return { steps, findings, unpassed };
}

/** The findings as warning lines (apply's output, the daemon's log). */
export function warningLines(findings: FirewallFinding[]): string[] {
  return findings.flatMap((f) => findingLines(f).map((l, i) => (i ? `  ${l}` : `warning: ${l}`)));
}
