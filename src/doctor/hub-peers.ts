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
} from "../protocol/probe-text.ts";
import type { PeerStatus } from "../protocol/status.ts";
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
 * One peer's tunnel: ok when online and the hub received from it within 30 s (or online and that is
 * not known: said so); fail when online but nothing arrived for 30 s or more (the tunnel broke since
 * the handshake); warn when offline. `forwards`: the names of its forwards (what stops with it).
 */
export function judgePeer(
  p: PeerStatus,
  forwards: string[],
  unwatched: string,
  listenPort: number,
): CheckResult {
  const shake = handshakeText(p.handshakeAgeSeconds);
  const rx = p.receivedSecondsAgo ?? null;
  const received = rx === null ? null : receivedText(p.name, rx);
  const stops = !forwards.length
    ? ""
    : forwards.length === 1
      ? `; its forward ${forwards[0]} does not work`
      : `; its forwards ${forwards.join(", ")} do not work`;
  const onPeer = `on ${p.name}: porthole doctor (its handshake and hub-api checks: does the hub answer it?)`;
  if (!p.online)
    return {
      id: "peers",
      status: "warn",
      found: `${p.name}: offline (${shake}${received ? `; ${received}` : ""})${stops}`,
      fix: [`${onPeer}; is porthole's agent running, and the machine online?`],
    };
  if (rx !== null && rx >= RECEIVED_WITHIN_S)
    return {
      id: "peers",
      status: "fail",
      found: `${p.name}: reads online (${shake}), but ${received} (it sends at least every ${PEERS_SEND_EVERY_S} s): the tunnel has broken since that handshake${stops}`,
      fix: [
        onPeer,
        `on the hub: tcpdump -ni any udp port ${listenPort} (do ${p.name}'s packets arrive? a cloud firewall or the peer's network may drop them)`,
      ],
    };
  return {
    id: "peers",
    status: "ok",
    found: `${p.name}: online (${shake}); ${received ?? `when the hub last received from ${p.name} is not known: ${unwatched}`}`,
  };
}

export const peers: Check<HubContext> = {
  id: "peers",
  about:
    "each peer's tunnel: a handshake within 180 s, and the hub still receives from it (the daemon watches that)",
  run: async (ctx) => {
    const { spec } = ctx;
    const { peers: seenPeers, unwatched } = await peersSeen(ctx);
    if (!seenPeers.length) return { id: "peers", status: "ok", found: "no peers yet" };
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
      ),
    );
  },
};
