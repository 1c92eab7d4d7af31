// Each peer's tunnel as the hub sees it: its handshake, and when the hub last received from it — what
// `porthole status` says on the peer's line. A handshake reads "online" for 180 s after a tunnel broke;
// the received bytes stop growing at once, but only the daemon watches them (every 2 s), so doctor asks
// it (GET /v1/peers) and says "not known" without it.
import { peerStatus } from "../hub/status.ts";
import {
  handshakeText,
  PEERS_SEND_EVERY_S,
  RECEIVED_WITHIN_S,
  receivedText,
  sendsEvery,
  silentAfter,
} from "../protocol/probe-text.ts";
import type { PeerStatus } from "../protocol/status.ts";
import type { Peer } from "../spec/types.ts";
import type { Check, CheckResult } from "./check.ts";
import type { HubContext } from "./hub-context.ts";

/** The peers now, and why `receivedSecondsAgo` is null when it is (no daemon, or its error). */
export interface PeersSeen {
  peers: PeerStatus[];
  /** Why the hub does not know when it last received from a peer: "no daemon watches …". */
  unwatched: string;
}

/**
 * The peers as the daemon sees them when it runs (with when the hub last received from each), else as
 * `wg` shows them now (`receivedSecondsAgo` null). Never rejects for the daemon: its error becomes
 * `unwatched`.
 */
export async function peersSeen(ctx: HubContext): Promise<PeersSeen> {
  const watching =
    "the daemon has not watched its received bytes for 30 s yet (it started, or the peer or the interface was re-created, lately)";
  let failed = "no daemon watches the peers' received bytes (this hub is managed with `porthole apply`)";
  if (ctx.daemonPeers) {
    try {
      return { peers: await ctx.daemonPeers(), unwatched: watching };
    } catch (e) {
      failed = `the daemon did not say (${(e as Error).message.split("\n")[0]})`;
    }
  } else if (ctx.managedBy === "daemon") failed = "the hub daemon is not running (see the daemon check)";
  const { peers } = await peerStatus(ctx.host, ctx.spec, Math.floor(Date.now() / 1000));
  return { peers, unwatched: failed };
}

/**
 * One peer's tunnel: ok when online and the hub received from it within max(30 s, its keepalive + 5 s)
 * (or online and that is not known: said so); fail when online but nothing arrived for longer (the
 * tunnel broke since the handshake), unless its keepalive is off (an idle peer then sends nothing);
 * warn when offline (said apart when it is not on `iface` at all). `forwards`: the names of its forwards (what stops with it); `sends`: the peer as
 * the spec has it (a device runs no porthole: the fix names its WireGuard app).
 */
export function judgePeer(
  p: PeerStatus,
  forwards: string[],
  unwatched: string,
  listenPort: number,
  sends: Pick<Peer, "kind" | "keepalive"> = { kind: "agent", keepalive: PEERS_SEND_EVERY_S },
  iface = "wg0",
): CheckResult {
  const shake = handshakeText(p.handshakeAgeSeconds);
  const rx = p.receivedSecondsAgo ?? null;
  const received =
    rx !== null
      ? receivedText(p.name, rx)
      : p.rxBytes === 0
        ? `the hub has never received from ${p.name}`
        : null;
  const stops = !forwards.length
    ? ""
    : forwards.length === 1
      ? `; its forward ${forwards[0]} does not work`
      : `; its forwards ${forwards.join(", ")} do not work`;
  // A device (a phone) runs no porthole: only its WireGuard app can be looked at.
  const onPeer =
    sends.kind === "device"
      ? `on ${p.name}: is its WireGuard tunnel on, and the device online?`
      : `on ${p.name}: porthole doctor (its handshake and hub-api checks: does the hub answer it?)`;
  // In the spec, not on the interface (no bytes read, the interface up): no tunnel can exist, and
  // neither the peer nor its agent is what to look at; status says the same.
  if (p.online === false && p.rxBytes === null)
    return {
      id: "peers",
      status: "warn",
      found: `${p.name}: offline (not on ${iface}: the spec that adds it is not applied)${stops}`,
      fix: ["porthole apply --dry-run (what is missing on the hub), then porthole apply"],
    };
  if (!p.online)
    return {
      id: "peers",
      status: "warn",
      found: `${p.name}: offline (${shake}${received ? `; ${received}` : ""})${stops}`,
      fix: [
        sends.kind === "device" ? onPeer : `${onPeer}; is porthole's agent running, and the machine online?`,
      ],
    };
  // Silence means a broken tunnel only from a peer that must send: one with a keepalive sends at least
  // that often; without one (keepalive 0, a device's choice) an idle peer sends nothing, rightly.
  const within = silentAfter(sends.keepalive);
  if (rx !== null && within !== null && rx >= within)
    return {
      id: "peers",
      status: "fail",
      found: `${p.name}: reads online (${shake}), but ${received} (${sendsEvery(sends)}): the tunnel has broken since that handshake${stops}`,
      fix: [
        onPeer,
        `on the hub: tcpdump -ni any udp port ${listenPort} (do ${p.name}'s packets arrive? a cloud firewall or the peer's network may drop them)`,
      ],
    };
  const silentOk =
    within === null && rx !== null && rx >= RECEIVED_WITHIN_S
      ? " (its keepalive is off: an idle peer sends nothing)"
      : "";
  return {
    id: "peers",
    status: "ok",
    found: `${p.name}: online (${shake}); ${received ? `${received}${silentOk}` : `when the hub last received from ${p.name} is not known: ${unwatched}`}`,
  };
}

export const peers: Check<HubContext> = {
  id: "peers",
  about:
    "each peer's tunnel: a handshake within 180 s, and the hub still receives from it (the daemon watches that)",
  run: async (ctx) => {
    const { spec } = ctx;
    const { peers: seenPeers, unwatched } = await peersSeen(ctx);
    // No peer yet: no tunnel to judge, so no row (not an "ok" for what was not checked).
    if (!seenPeers.length) return [];
    // The interface down: no handshake can be read, for any peer.
    if (seenPeers.some((p) => p.online === null))
      return {
        id: "peers",
        status: "unknown",
        found: `${spec.hub.interface} is down: the peers' handshakes cannot be read`,
        fix: ["porthole apply (see the wireguard check)"],
      };
    return seenPeers.map((p) =>
      judgePeer(
        p,
        spec.forwards.filter((f) => f.peer === p.name).map((f) => f.name),
        unwatched,
        spec.hub.listenPort,
        spec.peers.find((x) => x.name === p.name),
        spec.hub.interface,
      ),
    );
  },
};
