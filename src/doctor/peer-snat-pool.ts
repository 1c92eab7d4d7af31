// The hub's SNAT pool on this peer: snat clients arrive from their own addresses in hub.snatPool, so
// WireGuard must take those sources from the hub (AllowedIPs) and the replies must go back into the
// tunnel (porthole's route). A transparent peer routes every reply to the tunnel by its mark instead.
import { compile } from "../compile/compile.ts";
import { peerPool } from "../compile/snat-pool.ts";
import type { RouteEntry } from "../host/types.ts";
import { addrAt, formatAddr } from "../net/ip.ts";
import { DEFAULTS } from "../spec/defaults.ts";
import { applyFix, hubPeer, type Outcome, type PeerScene } from "./peer-scene.ts";

/** Whether the hub maps clients into a pool for this peer and it is not transparent (checked there). */
export const snatPoolChecked = (s: PeerScene): boolean =>
  !!peerPool(s.spec, s.me) && !!s.spec.hub.snatPool && !compile(s.spec, s.me.name).routing;

/** null when the hub maps no client into a pool for this peer, or the peer is transparent (checked there). */
export async function checkSnatPool(s: PeerScene): Promise<Outcome | null> {
  const pool = peerPool(s.spec, s.me);
  const plan = compile(s.spec, s.me.name);
  // snatPoolChecked's condition, spelled out so the types narrow.
  if (!pool || !s.spec.hub.snatPool || plan.routing) return null;
  const iface = s.spec.hub.interface;
  const problems: string[] = [];
  const hub = await hubPeer(s);
  const lacks = !!hub && !hub.allowedIps.includes(pool);
  if (lacks)
    problems.push(
      `the hub's AllowedIPs (${hub.allowedIps.join(", ") || "none"}) lack ${pool}: WireGuard drops them`,
    );
  const ours = (await s.host.wg.observe(iface)).routes.includes(pool);
  if (!ours) problems.push(`porthole's route ${pool} dev ${iface} is missing`);
  // Any address of the pool stands for all (porthole routes the whole prefix).
  const probe = formatAddr(addrAt(s.spec.hub.snatPool, 1n));
  const route = await s.host.probe.route(probe);
  const elsewhere = !route || route.device !== iface;
  if (elsewhere)
    problems.push(
      `a reply to ${probe} ${route ? `leaves by ${route.device}` : "has no route"}, not ${iface}`,
    );
  // Another program's route to the pool or inside it (a LAN, a VPN, a container network) takes those
  // clients' replies, wherever in the pool it is; an apply neither removes it nor adds over it.
  const others = (await s.host.probe.routesWithin(pool)).filter(
    (r) => !(r.dst === pool && r.device === iface),
  );
  // The kernel's route of a network this machine has an address in (its LAN): not a route to remove.
  const own = others.filter((r) => r.protocol === "kernel");
  const foreign = others.filter((r) => r.protocol !== "kernel");
  const part = (rs: RouteEntry[]) => (rs.some((r) => r.dst === pool) ? "the pool" : "part of the pool");
  const named = foreign.map((r) => (r.device ? `${r.dst} dev ${r.device}` : `${r.type} ${r.dst}`));
  if (own.length)
    problems.push(
      `this machine's own network ${own.map((r) => `${r.dst} (an address on ${r.device})`).join(", ")} is ${part(own)}`,
    );
  if (foreign.length) problems.push(`another program's route ${named.join(", ")} takes ${part(foreign)}`);
  // apply fixes the AllowedIPs and a missing route of porthole's, unless another route to the very
  // prefix makes the kernel refuse the route (and the apply is rolled back, AllowedIPs too).
  const applyFixes = (lacks || !ours) && !others.some((r) => r.dst === pool);
  // The pool on a network of this machine's own: the pool must move (hub.snatPool's value is the hub's).
  const movePool = `set hub.snatPool in the hub's porthole.yaml to a prefix this machine does not route (${DEFAULTS.snatPool} is meant for it): the hub daemon applies the edit (\`porthole apply\` on a hub without one), and its agents take it`;
  if (problems.length)
    return {
      status: "fail",
      found: `snat clients (from ${pool}) would not be answered through the tunnel: ${problems.join("; ")}`,
      // porthole's part in place (or refused by a route to the same prefix) and replies still not
      // routed to the tunnel: another program's route wins, which an apply would not change.
      fix: applyFixes
        ? applyFix(s)
        : own.length
          ? movePool
          : `another route takes ${foreign.length ? `${named.join(", ")} (see \`ip route show root ${pool}\`)` : `${probe} (see \`ip route get ${probe}\`)`}: remove it, or ${movePool}`,
    };
  return {
    status: "ok",
    found: `snat clients arrive from ${pool}: in the hub's AllowedIPs, and a reply to ${probe} leaves by ${iface}`,
  };
}
