// Forwards whose public port a service on the hub itself serves: the DNAT would take that service's
// traffic from the internet. Pure: the listeners come from the host driver (`ss`).
import type { Host, Listener } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import { containsPort, formatRange } from "../net/ports.ts";
import type { Forward, Hub, Proto, Spec } from "../spec/types.ts";

export interface Shadow {
  forward: string;
  proto: Proto;
  port: number;
  listener: Listener;
}

type Claim = Pick<Forward, "name" | "protos" | "port"> & { shadowHubService?: boolean };

/** How a forward takes a port over anyway, in each place one is made. */
export const FORCE_HOW =
  "--shadow-hub-service (porthole expose, porthole forward add), or shadowHubService: true on the forward in porthole.yaml";

/**
 * Whether a socket bound like this gets the hub's public traffic: bound to a wildcard or any address
 * but loopback and the hub's tunnel addresses, and not to the loopback or tunnel device.
 */
export function servesPublic(l: Listener, hub: Hub): boolean {
  if (l.device === "lo" || l.device === hub.interface) return false;
  const a = l.address;
  if (a === "*" || a === "0.0.0.0" || a === "::") return true;
  if (a.startsWith("127.") || a === "::1") return false;
  return a !== formatAddr(hub.address) && !(hub.address6 && a === formatAddr(hub.address6));
}

/** For each forward and protocol, the first public listener inside its port range (none: not shadowing). */
export function shadowedPorts(hub: Hub, forwards: Claim[], listeners: Listener[]): Shadow[] {
  const pub = listeners.filter((l) => servesPublic(l, hub));
  const out: Shadow[] = [];
  if (!pub.length) return out;
  for (const f of forwards) {
    for (const proto of f.protos) {
      const l = pub.find((x) => x.proto === proto && containsPort(f.port, x.port));
      if (l) out.push({ forward: f.name, proto, port: l.port, listener: l });
    }
  }
  return out;
}

/**
 * "tcp/8443 is in use on the hub: python3 (pid 812) listens on 0.0.0.0:8443"; for a peer that is not
 * an admin (`anonymous`), "tcp/8443 is in use by a service on the hub": what the hub runs, its pids and
 * addresses are the hub owner's business.
 */
export function describeShadow(s: Shadow, anonymous = false): string {
  if (anonymous) return `${s.proto}/${s.port} is in use by a service on the hub`;
  const l = s.listener;
  const who = l.processes.length ? l.processes.join(", ") : "a program (run as root to see which)";
  const addr = l.address.includes(":") ? `[${l.address}]` : l.address;
  return `${s.proto}/${s.port} is in use on the hub: ${who} listens on ${addr}:${l.port}`;
}

/**
 * The forwards of `after` that claim a protocol and public port range no forward of `before` claimed
 * (every forward when there is no `before`): the ones whose port may have a service on it now.
 */
export function newClaims(before: Spec | null, after: Spec): Forward[] {
  const key = (proto: Proto, f: Forward) => `${proto}/${formatRange(f.port)}`;
  const old = new Set((before?.forwards ?? []).flatMap((f) => f.protos.map((p) => key(p, f))));
  return after.forwards.filter((f) => f.protos.some((p) => !old.has(key(p, f))));
}

/**
 * The shadows among `forwards` that are not marked shadowHubService, with the listening programs named.
 * One `ss` when nothing is in the way (none when `seen`, a look just taken, is given); a second, with
 * process names, only when something is and `named`.
 */
export async function findShadows(
  host: Host,
  hub: Hub,
  forwards: Claim[],
  seen?: Listener[],
  /** false: the programs are not named (not looked up: `ss -p` is the slow part). */
  named = true,
): Promise<Shadow[]> {
  const claims = forwards.filter((f) => !f.shadowHubService);
  if (!claims.length) return [];
  const found = shadowedPorts(hub, claims, seen ?? (await host.sockets.listening(false)));
  if (!found.length || !named) return found;
  return shadowedPorts(hub, claims, await host.sockets.listening(true));
}
