// Observed WireGuard interface -> the steps that make it match the plan. Peers are changed one by
// one (`wg set`), so the other peers' sessions are never dropped.

import type { WgPeerState, WgState } from "../host/types.ts";
import { parseAddr } from "../net/ip.ts";
import type { WgPlan } from "../plan/plan.ts";
import type { Step } from "./steps.ts";

const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

function wantedPeer(p: WgPlan["peers"][number]): WgPeerState {
  return {
    publicKey: p.publicKey,
    allowedIps: p.allowedIps,
    endpoint: p.endpoint ?? null,
    keepalive: p.keepalive ?? 0,
  };
}

/** An endpoint given by name is resolved by `wg`; only a literal address can be compared with what runs. */
function endpointDiffers(want: string | null, have: string | null): boolean {
  if (!want) return false;
  if (!have) return true;
  const host = want.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return parseAddr(host) ? want !== have : false;
}

/**
 * `lastSeen`: where peers without a configured endpoint were last seen (saved by earlier applies). A
 * hub that comes back from a reboot can then reach its peers at once, instead of waiting up to two
 * minutes for each peer's session to expire and its next handshake.
 */
export function diffWireguard(
  plan: WgPlan,
  have: WgState,
  lastSeen: Record<string, string> = {},
  names: Record<string, string> = {},
): Step[] {
  const iface = plan.interface;
  const steps: Step[] = [];
  const w = "wireguard" as const;
  if (!have.exists) {
    steps.push({
      subsystem: w,
      text: `+ interface ${iface}`,
      run: async (h) => `WireGuard: ${await h.wg.create(iface)}`,
      undo: (h) => h.wg.destroy(iface),
    });
    have = { ...have, exists: true, up: false };
  }
  if (have.publicKey !== plan.publicKey) {
    steps.push({
      subsystem: w,
      text: `~ ${iface} private key from ${plan.privateKeyFile}`,
      run: (h) => h.wg.setPrivateKey(iface, plan.privateKeyFile),
      undo: async () => {}, // the interface is removed or keeps working with the key it must have
    });
  }
  if (plan.listenPort !== undefined && have.listenPort !== plan.listenPort) {
    const was = have.listenPort;
    steps.push({
      subsystem: w,
      text: `~ ${iface} listen-port ${plan.listenPort}${was ? ` (was ${was})` : ""}`,
      run: (h) => h.wg.setListenPort(iface, plan.listenPort ?? null),
      undo: (h) => h.wg.setListenPort(iface, was),
    });
  }
  for (const a of plan.addresses.filter((x) => !have.addresses.includes(x))) {
    steps.push({
      subsystem: w,
      text: `+ ${iface} address ${a}`,
      run: (h) => h.wg.addAddress(iface, a),
      undo: (h) => h.wg.removeAddress(iface, a),
    });
  }
  for (const a of have.addresses.filter((x) => !plan.addresses.includes(x))) {
    steps.push({
      subsystem: w,
      text: `- ${iface} address ${a}`,
      run: (h) => h.wg.removeAddress(iface, a),
      undo: (h) => h.wg.addAddress(iface, a),
    });
  }
  if (have.mtu !== plan.mtu) {
    const was = have.mtu;
    steps.push({
      subsystem: w,
      text: `~ ${iface} mtu ${plan.mtu}${was ? ` (was ${was})` : ""}`,
      run: (h) => h.wg.setMtu(iface, plan.mtu),
      undo: async (h) => {
        if (was) await h.wg.setMtu(iface, was);
      },
    });
  }
  const current = new Map(have.peers.map((p) => [p.publicKey, p]));
  for (const p of plan.peers) {
    const want = wantedPeer(p);
    const old = current.get(p.publicKey);
    const ips = want.allowedIps.join(", ");
    if (!old) {
      const seen = want.endpoint ? null : (lastSeen[p.publicKey] ?? null);
      const via = p.endpoint ? ` via ${p.endpoint}` : seen ? ` (last seen at ${seen})` : "";
      steps.push({
        subsystem: w,
        text: `+ peer ${p.name} ${ips}${via}`,
        run: (h) => h.wg.setPeer(iface, { ...want, endpoint: want.endpoint ?? seen }),
        undo: (h) => h.wg.removePeer(iface, p.publicKey),
      });
      continue;
    }
    const changes: string[] = [];
    if (!sameSet(old.allowedIps, want.allowedIps))
      changes.push(`allowed-ips ${ips} (was ${old.allowedIps.join(", ") || "none"})`);
    if (old.keepalive !== want.keepalive)
      changes.push(`keepalive ${want.keepalive || "off"} (was ${old.keepalive || "off"})`);
    if (endpointDiffers(want.endpoint, old.endpoint))
      changes.push(`endpoint ${want.endpoint} (was ${old.endpoint ?? "none"})`);
    if (changes.length) {
      steps.push({
        subsystem: w,
        text: `~ peer ${p.name} ${changes.join(", ")}`,
        run: (h) =>
          h.wg.setPeer(iface, {
            ...want,
            endpoint: endpointDiffers(want.endpoint, old.endpoint) ? want.endpoint : null,
          }),
        undo: (h) => h.wg.setPeer(iface, old),
      });
    }
  }
  const wanted = new Set(plan.peers.map((p) => p.publicKey));
  for (const old of have.peers.filter((p) => !wanted.has(p.publicKey))) {
    steps.push({
      subsystem: w,
      text: `- peer ${names[old.publicKey] ?? `${old.publicKey.slice(0, 8)}…`} ${old.allowedIps.join(", ")}`,
      run: (h) => h.wg.removePeer(iface, old.publicKey),
      undo: (h) => h.wg.setPeer(iface, old),
    });
  }
  if (!have.up) {
    steps.push({ subsystem: w, text: `~ ${iface} up`, run: (h) => h.wg.setUp(iface), undo: async () => {} });
  }
  // After `up`: the kernel refuses a route into an interface that is down. Only porthole's own routes
  // are observed (ROUTE_PROTO), so anyone else's route into the interface is never removed.
  for (const r of plan.routes.filter((x) => !have.routes.includes(x))) {
    steps.push({
      subsystem: w,
      text: `+ route ${r} dev ${iface}`,
      run: (h) => h.wg.addRoute(iface, r).catch((e) => refusedRoute(e, r)),
      undo: (h) => h.wg.removeRoute(iface, r),
    });
  }
  for (const r of have.routes.filter((x) => !plan.routes.includes(x))) {
    steps.push({
      subsystem: w,
      text: `- route ${r} dev ${iface}`,
      run: (h) => h.wg.removeRoute(iface, r),
      undo: (h) => h.wg.addRoute(iface, r),
    });
  }
  return steps;
}

/**
 * Rethrows `e`, a failed `ip route add` of the pool `cidr`; the kernel's "File exists" (another
 * program's route to the very prefix, which porthole never replaces) gets what to do about it.
 */
function refusedRoute(e: unknown, cidr: string): never {
  if (e instanceof Error && /File exists/.test(e.message))
    e.message = `${e.message}: another route to ${cidr} is on this machine (\`ip route show ${cidr}\`), and porthole does not replace it; set hub.snatPool on the hub to a prefix this machine does not route`;
  throw e;
}
