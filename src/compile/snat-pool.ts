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

/**
 * The addresses ("10.8.0.2", "fd00:8::2") of the peers whose snat clients come from a pool: IPv4 ones
 * with hub.snatPool, IPv6 ones too with its IPv6 part (hub.snatPool6); empty without a pool.
 */
export function pooledAddrs(spec: Spec): Set<string> {
  const out = new Set<string>();
  for (const p of spec.peers.filter((x) => peerPool(spec, x))) {
    out.add(formatAddr(p.address));
    if (p.address6 && spec.hub.snatPool6) out.add(formatAddr(p.address6));
  }
  return out;
}
