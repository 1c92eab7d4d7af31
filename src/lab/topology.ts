// The lab's topology: four namespaces wired as the seed's internet, VPS, home router and Pi.
//
//   peer 192.168.77.2 ── eth0 │ lan 192.168.77.1  home  wan 198.51.100.2 │ to-home 198.51.100.1 ─┐
//                                  (masquerade to wan)                                         client ("the internet",
//   hub  203.0.113.1  ── ens3 │ to-hub 203.0.113.2 (+ 203.0.113.3, a second client) ──────────┘  routes between both)
import { run } from "../host/run.ts";
import type { LabHost } from "./state.ts";
import type { World } from "./world.ts";

/** The lab's fixed addresses (documentation ranges and a private LAN; nothing routes outside the lab). */
export const LAB = {
  /** The hub's public address, on its `ens3`. */
  hubPublic: "203.0.113.1",
  /** The client ("the internet") on the hub's link: the hub's default gateway. */
  client: "203.0.113.2",
  /** A second client address on the same link (curl --interface 203.0.113.3), for allow-list tests. */
  client2: "203.0.113.3",
  publicNet: "203.0.113.0/24",
  /** The client's side of the home router's uplink: home's default gateway. */
  clientToHome: "198.51.100.1",
  /** The home router's initial public (WAN) address; see changeHomeAddress. */
  homeWan: "198.51.100.2",
  homeWanNet: "198.51.100.0/24",
  homeLan: "192.168.77.1",
  lanNet: "192.168.77.0/24",
  /** The peer (the Pi) behind the home router's NAT. */
  peer: "192.168.77.2",
} as const;

/** Interface names inside each namespace (namespaced, so every lab can use the same ones). */
export const LAB_IFACES = {
  client: { toHub: "to-hub", toHome: "to-home" },
  hub: { public: "ens3" },
  home: { wan: "wan", lan: "lan" },
  peer: { lan: "eth0" },
} as const;

/** Links, addresses, routes, forwarding and the home router's NAT. */
export async function wire(world: World): Promise<void> {
  const ns = (h: LabHost) => world.netns(h);
  const batch = (h: LabHost, lines: string[]) =>
    run(["ip", "-n", ns(h), "-batch", "-"], { input: `${lines.join("\n")}\n` });
  const I = LAB_IFACES;
  await batch("client", [
    `link add ${I.client.toHub} type veth peer name ${I.hub.public} netns ${ns("hub")}`,
    `link add ${I.client.toHome} type veth peer name ${I.home.wan} netns ${ns("home")}`,
    `address add ${LAB.client}/24 dev ${I.client.toHub}`,
    `address add ${LAB.client2}/24 dev ${I.client.toHub}`,
    `address add ${LAB.clientToHome}/24 dev ${I.client.toHome}`,
    `link set ${I.client.toHub} up`,
    `link set ${I.client.toHome} up`,
  ]);
  await batch("home", [
    `link add ${I.home.lan} type veth peer name ${I.peer.lan} netns ${ns("peer")}`,
    `address add ${LAB.homeWan}/24 dev ${I.home.wan}`,
    `address add ${LAB.homeLan}/24 dev ${I.home.lan}`,
    `link set ${I.home.wan} up`,
    `link set ${I.home.lan} up`,
    `route add default via ${LAB.clientToHome} dev ${I.home.wan}`,
  ]);
  await Promise.all([
    batch("hub", [
      `address add ${LAB.hubPublic}/24 dev ${I.hub.public}`,
      `link set ${I.hub.public} up`,
      `route add default via ${LAB.client} dev ${I.hub.public}`,
    ]),
    batch("peer", [
      `address add ${LAB.peer}/24 dev ${I.peer.lan}`,
      `link set ${I.peer.lan} up`,
      `route add default via ${LAB.homeLan} dev ${I.peer.lan}`,
    ]),
    world.exec("client", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
    world.exec("home", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
    world.exec("home", ["nft", "-f", "/dev/stdin"], { input: homeNatRuleset() }),
  ]);
}

/** The home router's own table: masquerade the LAN out of the WAN, like any home router. */
export function homeNatRuleset(): string {
  return [
    "table ip lab_home_router",
    "delete table ip lab_home_router",
    "table ip lab_home_router {",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    oifname "${LAB_IFACES.home.wan}" ip saddr ${LAB.lanNet} masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}
