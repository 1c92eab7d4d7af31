// What a spec means when it leaves a field out, and the patterns its names and hosts must match: one
// place read by validation, the hub (a join token's name is checked when it is made) and import.
import type { Limits } from "./types.ts";

export const DEFAULTS = {
  listenPort: 51820,
  interface: "wg0",
  subnet: "10.8.0.0/24",
  /** What `hub init` and the lab write into a new spec (a spec without it SNATs to the hub's address). */
  snatPool: "240.0.0.0/8",
  mtu: 1420,
  keepalive: 25,
  sshPort: 22,
  apiPort: 51821,
  metricsListen: "127.0.0.1:9851",
  limits: { forwardsPerPeer: 20, portsPerPeer: 100, maxRangeWithoutAdmin: 16 },
} as const;

/** The longest hub, peer or forward name, in characters. */
export const NAME_MAX = 32;
/** A hub, peer or forward name; NAME_RULE says it in words for diagnostics. */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
export const NAME_RULE = "1-32 lowercase letters, digits or '-', not starting or ending with '-'";

/**
 * The name a forward gets when none is given (the hub's forward add, `import wg-quick`): "rpi-tcp-80",
 * "rpi-tcp-udp-6000-6010" (`port`: "80", "6000-6010"). A peer's name may take all NAME_MAX characters,
 * so it is cut to leave room for the protocol and port, which alone tell a peer's forwards apart (one
 * forward per public port and protocol); uncut, the name was refused as not a valid name.
 */
export function forwardName(peer: string, proto: string, port: string): string {
  const what = `${proto.replace("+", "-")}-${port.replace(/[^0-9]+/g, "-")}`;
  const room = NAME_MAX - what.length - 1;
  return `${peer.slice(0, room).replace(/-+$/, "")}-${what}`;
}
/** A Linux interface name (IFNAMSIZ - 1 characters). */
export const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
/** A DNS host name (the endpoint's host when it is not an address). */
export const HOST_RE =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** The largest value of each limit: every port of both protocols, every port in one range. */
export const LIMIT_MAX: Limits = {
  forwardsPerPeer: 65535 * 2,
  portsPerPeer: 65535 * 2,
  maxRangeWithoutAdmin: 65535,
};
