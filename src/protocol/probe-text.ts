// The hub's probe of a forward's target (a TCP connect through the tunnel) in words: what it found
// and what that means, so `porthole status` and `porthole doctor` say the same thing. Pure.
import { secondsText } from "./age-text.ts";
import type { PeerStatus, ProbeOutcome } from "./status.ts";

/**
 * The target's peer as the hub sees it (its handshake with the hub, when it last received from it):
 * what tells a timeout's cause.
 */
export type ProbePeer = Pick<
  PeerStatus,
  "name" | "online" | "handshakeAgeSeconds" | "receivedSecondsAgo" | "keepalive" | "kind"
>;

/** porthole's peers send at least this often by default (PersistentKeepalive), seconds. */
export const PEERS_SEND_EVERY_S = 25;
/** Received within this many seconds: the tunnel carries packets now (the default keepalive and slack). */
export const RECEIVED_WITHIN_S = 30;

/**
 * How often the peer sends, in words: "it sends at least every 25 s" (porthole's agent); a device's
 * WireGuard app keeps it alive by the config the hub gave it: "its WireGuard config sends a keepalive
 * every 25 s". Keepalive absent: the default's.
 */
export function sendsEvery(peer: { kind?: string; keepalive?: number }): string {
  const k = peer.keepalive ?? PEERS_SEND_EVERY_S;
  return peer.kind === "device"
    ? `its WireGuard config sends a keepalive every ${k} s`
    : `it sends at least every ${k} s`;
}

/**
 * Within how many seconds a peer that sends every `keepalive` seconds has sent something while its
 * tunnel works: max(30, keepalive + 5); null for keepalive 0 (off: an idle peer sends nothing, so its
 * silence says nothing about the tunnel). Absent (an older hub): the default's.
 */
export function silentAfter(keepalive: number | undefined): number | null {
  const k = keepalive ?? PEERS_SEND_EVERY_S;
  return k ? Math.max(RECEIVED_WITHIN_S, k + 5) : null;
}

/** What the probe of one target found. */
export interface ProbeFound {
  outcome: ProbeOutcome;
  /** "10.8.0.2:8080". */
  target: string;
  /** The connect's error as Node names it ("EHOSTUNREACH"), when there was one; else null. */
  error: string | null;
  /** Its peer; undefined: not known to the reader (its cause is then said as any of them). */
  peer: ProbePeer | undefined;
  /** " 3 minutes ago", after the verb; "" for a probe made now. */
  then?: string;
}

/** "last handshake 40 seconds ago", "no handshake yet". */
export function handshakeText(ageS: number | null): string {
  if (ageS === null) return "no handshake yet";
  return `last handshake ${secondsText(ageS)} ago`;
}

/**
 * Why a connect got no answer, likeliest first, from the peer's handshake with the hub and when the
 * hub last received from it: a peer without a recent handshake (offline), or the hub's interface down
 * (`online` null), means the tunnel is down; one online that sent within 30 s means the tunnel
 * carries packets, so something drops the connection (its firewall, usually); one online that sent nothing for 30 s or more (it sends every 25 s) means the
 * tunnel broke since its handshake (it reads "online" for up to 180 s). Not known when it last sent
 * (`receivedSecondsAgo` null or absent): the handshake alone, and that the tunnel may have broken since,
 * with where to look.
 */
export function timeoutCause(peer: ProbePeer | undefined, port: number): string {
  if (!peer) return "the tunnel is down (the peer offline), or a firewall drops it";
  if (peer.online === null)
    return `the hub's WireGuard interface is down (${peer.name}'s handshake cannot be read), so the tunnel is down`;
  if (!peer.online)
    return `${peer.name} is offline (${handshakeText(peer.handshakeAgeSeconds)}): the tunnel is down, likelier than a firewall`;
  const rx = peer.receivedSecondsAgo;
  const within = silentAfter(peer.keepalive);
  if (rx != null && rx < (within ?? RECEIVED_WITHIN_S))
    return `${peer.name} sent packets ${secondsText(rx)} ago, so the tunnel carries them and a firewall on ${peer.name} (or past it) dropping tcp/${port} is likelier`;
  if (rx != null && within !== null)
    return `nothing received from ${peer.name} for ${secondsText(rx)} (${sendsEvery(peer)}): the tunnel is likelier down than a firewall`;
  // Silence from a peer whose keepalive is off tells nothing: its handshake is what is known.
  const quiet =
    rx != null
      ? `; nothing received for ${secondsText(rx)}, but its keepalive is off (an idle peer sends nothing)`
      : "";
  return `${peer.name} is online (${handshakeText(peer.handshakeAgeSeconds)}${quiet}), so a firewall on ${peer.name} (or past it) dropping tcp/${port} is likelier than the tunnel, unless the tunnel broke since that handshake (\`porthole doctor\` on ${peer.name} tells)`;
}

/**
 * The peer's tunnel reads down from the hub: offline (no handshake in 180 s), the hub's interface down
 * (`online` null), or online but nothing received for silentAfter(its keepalive) seconds or more.
 * false: it carries packets now, or only its recent handshake is known (keepalive off included).
 */
export function tunnelReadsDown(peer: ProbePeer): boolean {
  if (peer.online !== true) return true;
  const within = silentAfter(peer.keepalive);
  return within !== null && peer.receivedSecondsAgo != null && peer.receivedSecondsAgo >= within;
}

/**
 * When the hub last received from the peer, in words: "the hub last received from rpi 4 seconds ago"
 * (under 30 s: its received bytes grew then); "the hub has received nothing from rpi for 40 seconds"
 * (30 s or more: the last growth, or the whole time the hub has watched it). `rx`: receivedSecondsAgo.
 */
export function receivedText(name: string, rx: number): string {
  return rx < RECEIVED_WITHIN_S
    ? `the hub last received from ${name} ${secondsText(rx)} ago`
    : `the hub has received nothing from ${name} for ${secondsText(rx)}`;
}

/** What an unreachable (an ICMP destination unreachable, or no route) means, by its error. */
export function unreachableCause(error: string | null): string {
  if (error === "ENETUNREACH")
    return "ENETUNREACH: the hub or a router on the way has no route to its network, or a firewall rejects it as net-prohibited";
  if (error === "EHOSTUNREACH" || error === null)
    return "EHOSTUNREACH: an ICMP host unreachable came back (no route onward, a neighbour that does not answer, or a firewall rejecting it as admin-prohibited), or the hub has no route to it";
  return `${error}: an ICMP destination unreachable came back`;
}

/**
 * The probe's finding in one clause: "10.8.0.2:8080 refused the hub's connection: rpi is reached;
 * nothing accepts on 10.8.0.2:8080 (or a firewall there rejects it)".
 */
export function probeFinding(p: ProbeFound): string {
  const then = p.then ?? "";
  const port = Number(p.target.slice(p.target.lastIndexOf(":") + 1));
  const who = p.peer?.name ?? "the peer";
  switch (p.outcome) {
    case "accepted":
      return then
        ? `${p.target} accepted a connection from the hub${then}`
        : `${p.target} accepts connections from the hub`;
    case "refused":
      return `${p.target} refused the hub's connection${then}: ${who} is reached; nothing accepts on ${p.target} (or a firewall there rejects it)`;
    case "timeout":
      return `${p.target} did not answer the hub's connection${then} (timed out): ${timeoutCause(p.peer, port)}`;
    case "unreachable":
      return `${p.target} was unreachable from the hub${then} (${unreachableCause(p.error)})`;
    case "error":
      return `the hub's probe of ${p.target} failed on the hub itself${then} (${p.error ?? "unknown error"}): it says nothing about the target`;
  }
}
