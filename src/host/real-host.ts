// The host porthole runs on.
import { forgetFlows } from "./conntrack.ts";
import { hostFiles } from "./files.ts";
import { firewallDriver } from "./firewall.ts";
import { inspectDriver } from "./inspect.ts";
import { listeningSockets } from "./listeners.ts";
import { httpProbe, pingDf, routeGet, routesWithin, sendDatagram, tcpConnect } from "./probes.ts";
import { iptablesDnatCounters, nftElementCounters, openConnections, wgPeerStats } from "./stats.ts";
import { routingDriver, sysctlDriver } from "./system.ts";
import type { Host } from "./types.ts";
import { wireguardDriver } from "./wireguard.ts";

export const realHost: Host = {
  wg: { ...wireguardDriver, implementation: inspectDriver.implementation },
  firewall: firewallDriver,
  conntrack: { forget: forgetFlows },
  sockets: { listening: listeningSockets },
  stats: {
    wgPeers: wgPeerStats,
    nftElements: nftElementCounters,
    iptablesDnat: iptablesDnatCounters,
    openConnections,
  },
  sysctl: sysctlDriver,
  routing: routingDriver,
  net: inspectDriver.net,
  services: inspectDriver.services,
  probe: {
    ping: pingDf,
    route: routeGet,
    routesWithin,
    connect: tcpConnect,
    datagram: sendDatagram,
    http: httpProbe,
  },
  files: hostFiles,
};
