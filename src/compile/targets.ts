// Forwards expanded to one entry per public port and protocol: ranges map 1:1, port by port.
import { type Addr, formatAddr } from "../net/ip.ts";
import type { Target } from "../plan/plan.ts";
import type { Spec } from "../spec/types.ts";

/** One entry per (family, proto, public port); IPv6 entries only when the network has IPv6. */
export function expandTargets(spec: Spec): Target[] {
  // Each peer's addresses, formatted once (a peer usually has many forwards).
  const peers = new Map(
    spec.peers.map((p) => {
      const addrs: Addr[] = p.address6 ? [p.address, p.address6] : [p.address];
      return [p.name, addrs.map((a) => ({ family: a.family, addr: formatAddr(a) }))];
    }),
  );
  const out: Target[] = [];
  for (const f of spec.forwards) {
    const addrs = peers.get(f.peer);
    if (!addrs) continue;
    for (const { family, addr } of addrs) {
      for (const proto of f.protos) {
        for (let i = 0; i <= f.port.to - f.port.from; i++) {
          out.push({
            forward: f.name,
            proto,
            port: f.port.from + i,
            family,
            addr,
            targetPort: f.targetPort.from + i,
            mode: f.mode,
            allowFrom: f.allowFrom,
          });
        }
      }
    }
  }
  return out;
}
