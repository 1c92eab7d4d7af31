// Transparent forwards on this peer: the client's address arrives unchanged, so the replies must be
// steered back into the tunnel — the firewall marks the connection, a rule sends marked packets to
// porthole's table, whose default route is the tunnel; wg0 reverse-path filtering must be loose.
import { compile } from "../compile/compile.ts";
import { markText } from "../plan/plan.ts";
import { applyFix, endpointAddress, hubPeer, type Outcome, type PeerScene } from "./peer-scene.ts";

/** Whether a transparent forward goes to this peer (else checkTransparent has nothing to check). */
export const transparentChecked = (s: PeerScene): boolean => !!compile(s.spec, s.me.name).routing;

/** null when no transparent forward goes to this peer (nothing to check). */
export async function checkTransparent(s: PeerScene): Promise<Outcome | null> {
  const plan = compile(s.spec, s.me.name);
  const r = plan.routing;
  if (!r) return null;
  const { host } = s;
  const iface = s.spec.hub.interface;
  const problems: string[] = [];
  if (plan.firewall.backend === "nftables") {
    if (!(await host.firewall.observeNft()))
      problems.push("table inet porthole (which marks transparent connections) is missing");
  } else {
    const have = (await host.firewall.observeIptables()).hooks;
    for (const h of plan.firewall.hooks)
      if (
        !have.some(
          (x) => x.family === h.family && x.table === h.table && x.chain === h.chain && x.target === h.target,
        )
      )
        problems.push(`the iptables jump ${h.table} ${h.chain} -> ${h.target} is missing`);
  }
  if (!(await host.routing.observe(r)))
    problems.push(
      `the rule \`fwmark ${markText(r)} lookup ${r.table}\` or table ${r.table}'s route via ${iface} is missing`,
    );
  // A reply to an internet address (the hub's, as any) carrying the mark must leave by the tunnel.
  const p = await hubPeer(s);
  const probe = p?.endpoint ? endpointAddress(p.endpoint) : null;
  let routed = "";
  if (probe && !probe.includes(":")) {
    const route = await host.probe.route(probe, r.fwmark);
    if (route && route.device !== iface)
      problems.push(`a marked reply to ${probe} leaves by ${route.device}, not ${iface}`);
    else if (route) routed = `; a marked reply to ${probe} leaves by ${iface}`;
  }
  for (const [key, want] of Object.entries(plan.sysctl)) {
    const have = await host.sysctl.get(key);
    if (have !== want)
      problems.push(
        `${key} is ${have ?? "absent"}, not ${want} (strict reverse-path filtering drops clients' packets)`,
      );
  }
  if (problems.length)
    return {
      status: "fail",
      found: `transparent replies would not return through the tunnel: ${problems.join("; ")}`,
      fix: applyFix(s),
    };
  return {
    status: "ok",
    found: `marks, rule fwmark ${markText(r)} -> table ${r.table} and its route via ${iface} are in place${routed}`,
  };
}
