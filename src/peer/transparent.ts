// What a peer must allow for a transparent forward, said once when it is exposed.
import { markText, TRANSPARENT } from "../plan/plan.ts";

/**
 * Lines for `expose --transparent`: `proto` "tcp" | "udp" | "tcp+udp", `target` the port (or range)
 * on this peer, `iface` the tunnel interface, `subnet` the tunnel's prefix ("10.8.0.0/24").
 */
export function transparentNeeds(proto: string, target: string, iface: string, subnet: string): string[] {
  return [
    "transparent: connections arrive with the client's own address, so on this machine:",
    `  - the firewall must accept ${proto}/${target} on ${iface} from any address (not only ${subnet});`,
    `  - a container or VM behind a DNAT here (a Docker published port) also needs forwarding between ${iface} and its bridge;`,
    `    its replies go back through the tunnel too (fwmark ${markText(TRANSPARENT)} -> table ${TRANSPARENT.table});`,
    "  - a service on another machine of the LAN answers through its own gateway, not the tunnel: use snat for it.",
  ];
}
