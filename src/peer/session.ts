// A hub that restarted (its daemon and wireguard-go under systemd, a reboot) has forgotten the
// WireGuard session: it drops what this peer sends on the old one without a word, and it cannot start
// a new one itself when it does not know where this peer is now (the peer moved while it was down).
// WireGuard on this side starts a new handshake only after 15 s of sends without an answer
// (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), so the agent notices sooner: a request to the hub that fails
// while not one byte came back through the tunnel means the session is dead, and dropping it makes
// the next packet start a new handshake at once.
import type { Host } from "../host/types.ts";
import { HubUnreachable } from "./client.ts";

/** The hub as this peer's WireGuard knows it. */
export interface HubPeer {
  interface: string;
  publicKey: string;
}

export interface HubSession {
  /**
   * Runs `request` (a call to the hub's API through the tunnel). When it throws HubUnreachable (not
   * refused) and the hub sent nothing at all meanwhile (its received-bytes counter did not move), the
   * session is renewed and `request` runs once more; its result or error is returned or thrown.
   * `hub` undefined (no local spec yet): `request` runs once, as is.
   */
  ask<T>(hub: HubPeer | undefined, request: () => Promise<T>): Promise<T>;
  /**
   * The latest handshake with the hub (Unix seconds, 0 = never) given what `wg` reports now (`seen`):
   * a renewal resets WireGuard's own record, so the one from before it counts too.
   */
  latestHandshake(seen: number): number;
}

const statsOf = async (host: Host, hub: HubPeer) =>
  (await host.stats.wgPeers(hub.interface))?.find((p) => p.publicKey === hub.publicKey) ?? null;

/**
 * Drops this side's session with the hub: its peer entry is removed and set again as it was (allowed
 * IPs, endpoint, keepalive), so the next packet to the hub starts a handshake. Returns false when the
 * interface has no such peer.
 */
export async function renewSession(host: Host, hub: HubPeer): Promise<boolean> {
  const peer = (await host.wg.observe(hub.interface)).peers.find((p) => p.publicKey === hub.publicKey);
  if (!peer) return false;
  await host.wg.removePeer(hub.interface, hub.publicKey);
  await host.wg.setPeer(hub.interface, peer);
  return true;
}

/** `log` is told once per outage (not on every retry while the hub stays silent). */
export function hubSession(host: Host, log: (l: string) => void): HubSession {
  let told = false;
  let handshakeBefore = 0;
  return {
    latestHandshake: (seen) => Math.max(seen, handshakeBefore),
    ask: async (hub, request) => {
      const before = hub ? await statsOf(host, hub) : null;
      try {
        const r = await request();
        told = false;
        return r;
      } catch (e) {
        if (!hub || !before || !(e instanceof HubUnreachable) || e.refused) throw e;
        // Anything from the hub meanwhile (a TCP reset, a keepalive): the session works.
        if ((await statsOf(host, hub))?.rxBytes !== before.rxBytes) throw e;
        handshakeBefore = Math.max(handshakeBefore, before.latestHandshake);
        if (!(await renewSession(host, hub))) throw e;
        if (!told) log("the hub sent nothing back through the tunnel: new WireGuard session with it");
        told = true;
        const r = await request();
        told = false;
        return r;
      }
    },
  };
}
