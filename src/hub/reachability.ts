// Reachable from the outside, the hub's half: which ports to probe, a broker that hands the task to
// one peer (in its next whoami answer) and waits for its report, and the verdict on each port.
// A peer's report is accepted only from the peer the task was given to, and only once.
import { randomUUID } from "node:crypto";
import { contains, formatCidr, parseAddr } from "../net/ip.ts";
import { agoText } from "../protocol/age-text.ts";
import type { ProbeReport } from "../protocol/requests.ts";
import type { ProbeTarget, ProbeTask, ReachabilityFinding } from "../protocol/responses.ts";
import type { Spec } from "../spec/types.ts";

/** A handshake younger than this (s) means the peer is connected now (WireGuard re-handshakes every 2 min). */
export const CONNECTED_S = 135;
/** How long the hub waits for the peer's report: its agent polls every 2 s, the TCP probes take ≤ 3 s. */
export const REPORT_WAIT_MS = 12_000;

/** The hub's WireGuard port and the first public port of each forward, per protocol (at most 64). */
export function probeTargets(spec: Spec): ProbeTarget[] {
  const out: ProbeTarget[] = [{ proto: "udp", port: spec.hub.endpoint.port, what: "wireguard" }];
  for (const f of spec.forwards)
    for (const proto of f.protos) out.push({ proto, port: f.port.from, what: f.name });
  return out.slice(0, 64);
}

/**
 * The forwards whose allow-list (allowFrom) leaves out `from`, the address the probing peer reaches the
 * internet from (its WireGuard endpoint as the hub sees it, "198.51.100.2:50896"), by forward name →
 * the list as text: the hub drops that peer's probe of them by design, so a timeout says nothing of a
 * cloud firewall. Empty when `from` is not known.
 */
export function outsideAllowList(spec: Spec, from: string | null | undefined): Map<string, string> {
  const addr = from ? parseAddr(from.replace(/:\d+$/, "").replace(/^\[|\]$/g, "")) : null;
  const out = new Map<string, string>();
  if (!addr) return out;
  for (const f of spec.forwards)
    if (f.allowFrom.length && !f.allowFrom.some((c) => contains(c, addr)))
      out.set(f.name, f.allowFrom.map(formatCidr).join(", "));
  return out;
}

interface Pending {
  /** The public key of the peer it was given to (not its name: a peer added again under it is another). */
  peer: string;
  task: ProbeTask;
  taken: boolean;
  done: (r: ProbeReport | null) => void;
}

/** Tasks waiting for a peer to pick them up and report; in memory (a probe lives a few seconds). */
export class ProbeBroker {
  private pending = new Map<string, Pending>();

  /** Gives `peer` a task; resolves with its report, or null when none came within `waitMs`. */
  ask(
    peer: string,
    host: string,
    targets: ProbeTarget[],
    waitMs = REPORT_WAIT_MS,
  ): Promise<ProbeReport | null> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(null), waitMs);
      const finish = (r: ProbeReport | null) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(r);
      };
      this.pending.set(id, { peer, task: { id, host, targets }, taken: false, done: finish });
    });
  }

  /** The task waiting for `peer`, handed out once. */
  taskFor(peer: string): ProbeTask | undefined {
    for (const p of this.pending.values())
      if (p.peer === peer && !p.taken) {
        p.taken = true;
        return p.task;
      }
    return undefined;
  }

  /** Accepts `peer`'s report of task `id`; false when no such task was given to that peer. */
  report(peer: string, id: string, report: ProbeReport): boolean {
    const p = this.pending.get(id);
    if (!p || p.peer !== peer || !p.taken) return false;
    p.done(report);
    return true;
  }
}

/**
 * The verdict on each target from `peer`'s report: TCP by its connect (open: reachable; a timeout:
 * dropped on the way, the provider's firewall being the usual suspect); the WireGuard port by the
 * peer's own handshake through that address; other UDP ports cannot be judged from the sender's side.
 * A forward in `notAllowed` (outsideAllowList: its allow-list leaves the peer out) is unknown.
 */
export function judgeReport(
  peer: string,
  targets: ProbeTarget[],
  r: ProbeReport,
  hubInterface: string,
  notAllowed: Map<string, string> = new Map(),
): ReachabilityFinding[] {
  const at = r.address ?? "the hub's public address";
  if (!r.address || r.via === hubInterface || r.error) {
    const found = r.error
      ? `${peer} could not probe: ${r.error}`
      : !r.address
        ? `${peer} could not resolve the hub's endpoint`
        : `${peer}'s route to ${r.address} goes through the tunnel (${hubInterface}), not the internet`;
    return targets.map((t) => ({ ...t, status: "unknown", found }));
  }
  return targets.map((t): ReachabilityFinding => {
    const which = `${t.proto}/${t.port} (${t.what})`;
    const firewallFix = `allow ${t.proto}/${t.port} inbound in the VPS provider's firewall (security group / cloud firewall) for ${t.what === "wireguard" ? "every address the peers connect from" : "the clients"}; the hub's own firewall is judged by the checks above`;
    if (t.what === "wireguard") {
      const hs = r.handshake;
      const sameAddr = hs?.endpoint?.replace(/:\d+$/, "").replace(/^\[|\]$/g, "") === r.address;
      if (hs && hs.ageS <= CONNECTED_S && sameAddr)
        return {
          ...t,
          status: "ok",
          found: `${which} reachable: ${peer} shook hands through ${hs.endpoint} over the internet ${agoText(hs.ageS)}`,
        };
      return {
        ...t,
        status: "unknown",
        found: `${which}: ${peer}'s tunnel does not show a recent handshake through ${at} (${hs ? `${agoText(hs.ageS)} via ${hs.endpoint}` : "none"})`,
      };
    }
    const allowed = notAllowed.get(t.what);
    if (allowed !== undefined)
      return {
        ...t,
        status: "unknown",
        found: `${which}: not judged from ${peer}: its address is not in the forward's allow-list (${allowed}), so the hub drops its probe by design`,
        fix: `from an address in the allow-list: nc -vz${t.proto === "udp" ? "u" : ""} -w 3 ${at} ${t.port}`,
      };
    const got = r.results.find((x) => x.proto === t.proto && x.port === t.port);
    const res = got?.result ?? "skipped";
    if (t.proto === "udp")
      return {
        ...t,
        status: "unknown",
        found: `${which}: ${peer} sent a datagram to ${at}; UDP has no handshake, so the sender cannot tell whether it arrived`,
      };
    if (res === "open")
      return {
        ...t,
        status: "ok",
        found: `${which} reachable: ${peer} connected to ${at}:${t.port} over the internet`,
      };
    if (res === "refused")
      return {
        ...t,
        status: "warn",
        found: `${which}: ${peer}'s connect to ${at}:${t.port} was refused: the packet got through, but nothing accepted it (see the target's checks on the peer)`,
      };
    if (res === "timeout")
      return {
        ...t,
        status: "fail",
        found: `${which} NOT reachable from the internet: ${peer}'s connect to ${at}:${t.port} got no answer (dropped on the way: a cloud firewall in front of the hub, or the hub's own)`,
        fix: firewallFix,
      };
    if (res === "unreachable")
      return {
        ...t,
        status: "fail",
        found: `${which} NOT reachable from the internet: ${peer}'s connect to ${at}:${t.port} was answered "unreachable" (a firewall rejecting it, or no route from ${peer})`,
        fix: firewallFix,
      };
    if (res === "error")
      return {
        ...t,
        status: "unknown",
        found: `${which}: ${peer}'s connect to ${at}:${t.port} failed on ${peer} itself (${got?.error ?? "an error"}): it says nothing about the hub`,
      };
    return { ...t, status: "unknown", found: `${which}: not probed by ${peer}` };
  });
}
