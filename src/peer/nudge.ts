// The agent's nudge: one datagram through the tunnel halfway between two ticks, so the hub hears
// from this peer every second (the 2 s tick alone: every 2 s) and learns a new home address that
// soon: 0-1 s after the change instead of 0-2 s. Nothing on the peer sees the home router's public
// address change (its own address and routes stay the same), so there is no event to react to:
// only sending often helps. A datagram is the cheapest packet WireGuard will carry for a program
// (no connection, no answer awaited, no subprocess); a faster tick would also ask the hub's daemon
// every time.
import type { Host } from "../host/types.ts";

/**
 * A function that sends one nudge: an empty UDP datagram to the hub's API address (`api`, the URL in
 * peer.json, e.g. http://10.8.0.1:7353) on the API port, where nothing listens for UDP. WireGuard
 * carries it, which is what tells the hub where this peer is now; the hub's kernel drops it (and
 * answers with an ICMP port unreachable, rate-limited).
 */
export function nudger(host: Host, api: string): () => void {
  const url = new URL(api);
  const address = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 80);
  return () => void host.probe.datagram(address, port, "");
}
