// Forwards expanded to one entry per public port and protocol: ranges map 1:1, port by port.
import { type Addr, type Family, formatAddr } from "../net/ip.ts";
import type { Forward, Mode, Proto, Spec } from "../spec/types.ts";

export interface Target {
  forward: string;
  proto: Proto;
  port: number;
  family: Family;
  addr: string;
  targetPort: number;
  mode: Mode;
  allowFrom: Forward["allowFrom"];
}

/** One entry per (family, proto, public port); IPv6 entries only when the network has IPv6. */
export function expandTargets(spec: Spec): Target[] {
  const peers = new Map(spec.peers.map((p) => [p.name, p]));
  const out: Target[] = [];
  for (const f of spec.forwards) {
    const peer = peers.get(f.peer);
    if (!peer) continue;
    const addrs: Addr[] = [peer.address, ...(peer.address6 ? [peer.address6] : [])];
    for (const a of addrs) {
      const addr = formatAddr(a);
      for (const proto of f.protos) {
        for (let i = 0; i <= f.port.to - f.port.from; i++) {
          out.push({
            forward: f.name,
            proto,
            port: f.port.from + i,
            family: a.family,
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
