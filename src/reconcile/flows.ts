// Which tracked flows an apply must make the kernel forget. NAT is decided on a flow's first packet:
// a UDP client that kept sending to a public port before its forward existed keeps reaching the hub
// itself, and a flow to a changed or removed forward keeps its old target, for as long as packets
// flow. So every public port whose forward was added, changed (target, mode, the source a snat
// client is given: a SNAT pool changed, added or set off) or removed has its flows deleted once the
// new rules are in place, as Docker and Kubernetes do. Pure.

import { peerPool } from "../compile/snat-pool.ts";
import type { PublicPort } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import type { PortRange } from "../net/ports.ts";
import type { Forward, Spec } from "../spec/types.ts";
import type { Step } from "./steps.ts";

/** A peer's addresses and where its snat clients come from ("240.0.0.0/8", or "hub": its address). */
type PeerAddrs = Map<string, { family: 4 | 6; addr: string; snatFrom: string }[]>;

/** Each peer's addresses, formatted once (a peer usually has many forwards). */
function peerAddrs(spec: Spec): PeerAddrs {
  return new Map(
    spec.peers.map((p) => {
      const snatFrom = peerPool(spec, p) ?? "hub";
      return [
        p.name,
        (p.address6 ? [p.address, p.address6] : [p.address]).map((a) => ({
          family: a.family,
          addr: formatAddr(a),
          snatFrom,
        })),
      ];
    }),
  );
}

/**
 * The public ports of `forwards` ("4 udp 27015") and where each leads ("10.8.0.2 27015 snat from
 * 240.0.0.0/8", "10.8.0.2 27015 transparent").
 */
function publicTargets(forwards: Forward[], peers: PeerAddrs): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of forwards) {
    for (const { family, addr, snatFrom } of peers.get(f.peer) ?? []) {
      const how = f.mode === "snat" ? `snat from ${snatFrom}` : f.mode;
      for (const proto of f.protos)
        for (let i = 0; i <= f.port.to - f.port.from; i++)
          out.set(`${family} ${proto} ${f.port.from + i}`, `${addr} ${f.targetPort.from + i} ${how}`);
    }
  }
  return out;
}

const sameRange = (a: PortRange, b: PortRange) => a.from === b.from && a.to === b.to;
/** Same public ports, same way to the same peer (the allow-list is checked on every packet). */
const samePath = (a: Forward, b: Forward) =>
  a.peer === b.peer &&
  a.mode === b.mode &&
  sameRange(a.port, b.port) &&
  sameRange(a.targetPort, b.targetPort) &&
  a.protos.join() === b.protos.join();

const toPort = (key: string): PublicPort => {
  const [family, proto, port] = key.split(" ");
  return { family: Number(family) as 4 | 6, proto: proto as PublicPort["proto"], port: Number(port) };
};

/**
 * The public ports whose forward was added, removed, or now leads elsewhere (peer address, target
 * port, mode) from `before` (null: nothing known, every port counts) to `after`. A forward renamed or
 * moved in the list, or with a new allow-list (checked on every packet), changes no flow's path.
 * Keyed by public port, this also covers the flows still translated to an old target: each entered
 * through one of these ports; flows that reach the same target through an unchanged forward stay.
 */
export function changedPorts(before: Spec | null, after: Spec): PublicPort[] {
  const nowPeers = peerAddrs(after);
  const wasPeers = before ? peerAddrs(before) : (new Map() as PeerAddrs);
  // Only forwards that are new, gone, changed, or whose peer moved can change a port's path (a public
  // port belongs to one forward at a time), so only theirs are compared: cheap with 10,000 forwards.
  const moved = new Set(
    [...nowPeers].filter(([n, a]) => JSON.stringify(wasPeers.get(n)) !== JSON.stringify(a)).map(([n]) => n),
  );
  const old = new Map((before?.forwards ?? []).map((f) => [f.name, f]));
  const came: Forward[] = [];
  const gone: Forward[] = [];
  for (const f of after.forwards) {
    const w = old.get(f.name);
    old.delete(f.name);
    if (w && samePath(w, f) && !moved.has(f.peer)) continue;
    came.push(f);
    if (w) gone.push(w);
  }
  gone.push(...old.values());
  const was = publicTargets(gone, wasPeers);
  const now = publicTargets(came, nowPeers);
  const keys: string[] = [];
  for (const [k, t] of now) if (was.get(k) !== t) keys.push(k);
  for (const k of was.keys()) if (!now.has(k)) keys.push(k);
  return keys.map(toPort);
}

/**
 * The public ports whose flows an apply forgets: those that changed since `before`, or, when the
 * kernel did not hold the ruleset applied last (`heldBefore` false: first apply, `nft flush ruleset`,
 * a lost hook), every port of both, since flows may have been tracked while the rules were missing.
 */
export function portsToForget(before: Spec | null, after: Spec, heldBefore: boolean): PublicPort[] {
  const changed = changedPorts(before, after);
  if (heldBefore) return changed;
  const seen = new Set(changed.map((p) => `${p.family} ${p.proto} ${p.port}`));
  const all = publicTargets(after.forwards, peerAddrs(after));
  return [...changed, ...[...all.keys()].filter((k) => !seen.has(k)).map(toPort)];
}

/** "tcp/80, udp/27015" (IPv6 ports once), at most `max` shown, ranges joined: "udp/6000-6010". */
export function describePorts(ports: PublicPort[], max = 4): string {
  const byProto = new Map<string, number[]>();
  for (const p of ports) byProto.set(p.proto, [...(byProto.get(p.proto) ?? []), p.port]);
  const parts: string[] = [];
  for (const [proto, list] of byProto) {
    const sorted = [...new Set(list)].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; ) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
      parts.push(`${proto}/${sorted[i]}${j > i ? `-${sorted[j]}` : ""}`);
      i = j + 1;
    }
  }
  const more = parts.length - max;
  return more > 0 ? `${parts.slice(0, max).join(", ")} and ${more} more` : parts.join(", ");
}

/**
 * The step that forgets the flows of `ports` on the hub's own addresses but `tunnel` (its tunnel
 * addresses): run after the rules are in place, so the next packet of each flow meets them. Nothing
 * to undo: a flow deleted is simply tracked again, under whatever rules hold then.
 */
export function forgetStep(ports: PublicPort[], tunnel: string[]): Step {
  return {
    subsystem: "conntrack",
    text: `~ conntrack: forget flows to ${describePorts(ports)} (tracked before this change, they would keep their old path)`,
    run: (h) => h.conntrack.forget(ports, tunnel),
    undo: async () => {},
  };
}
