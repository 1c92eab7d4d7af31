// The hub's SNAT pool (hub.snatPool): which peers' snat clients are mapped into it, one address each.
import { formatAddr, formatCidr } from "../net/ip.ts";
import type { Peer, Spec } from "../spec/types.ts";

/**
 * The pool as `peer` sees it ("240.0.0.0/8"), or null: agent peers only. The hub maps snat clients into
 * it for them alone, because a device's config is shown once and could never learn a pool added later.
 */
export function peerPool(spec: Spec, peer: Peer): string | null {
  return spec.hub.snatPool && peer.kind === "agent" ? formatCidr(spec.hub.snatPool) : null;
}

/** The IPv4 addresses ("10.8.0.2") of the peers whose snat clients come from the pool; empty without one. */
export function pooledAddrs(spec: Spec): Set<string> {
  return new Set(spec.peers.filter((p) => peerPool(spec, p)).map((p) => formatAddr(p.address)));
}
