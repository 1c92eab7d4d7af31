// Faults doctor must name, injected into a lab as the real world makes them: a cloud firewall in
// front of the hub (a rule in "the internet" namespace, which the hub cannot see), and a home link
// with a smaller MTU whose router filters ICMP (a path MTU black hole).
import { run } from "../host/run.ts";
import { LAB, LAB_IFACES } from "./topology.ts";
import type { World } from "./world.ts";

const CLOUD = "lab_cloud_firewall";
const NO_ICMP = "lab_no_icmp";

/**
 * The provider's firewall dropping `proto`/`port` to the hub's public address (every packet the
 * internet sends there, as a security group without that port would); `on: false` removes it.
 */
export async function cloudFirewall(
  world: World,
  proto: "tcp" | "udp",
  port: number,
  on: boolean,
): Promise<void> {
  const rule = `ip daddr ${LAB.hubPublic} ${proto} dport ${port} drop`;
  const text = on
    ? [
        `table inet ${CLOUD} {`,
        `  chain forward { type filter hook forward priority 0; policy accept; ${rule}; }`,
        `  chain output { type filter hook output priority 0; policy accept; ${rule}; }`,
        "}",
      ].join("\n")
    : `delete table inet ${CLOUD}`;
  await world.exec("client", ["nft", "-f", "/dev/stdin"], { input: `${text}\n` });
}

/**
 * The home router's uplink carries only `mtu`-byte packets (both ends of the link), and the router
 * sends no "fragmentation needed" (ICMP filtered): bigger packets vanish. `mtu: null` restores 1500.
 */
export async function homeLinkBlackHole(world: World, mtu: number | null): Promise<void> {
  const size = String(mtu ?? 1500);
  await run(["ip", "-n", world.netns("home"), "link", "set", LAB_IFACES.home.wan, "mtu", size]);
  await run(["ip", "-n", world.netns("client"), "link", "set", LAB_IFACES.client.toHome, "mtu", size]);
  const drop = "icmp type destination-unreachable drop";
  const text =
    mtu === null
      ? `delete table inet ${NO_ICMP}`
      : [
          `table inet ${NO_ICMP} {`,
          `  chain output { type filter hook output priority 0; policy accept; ${drop}; }`,
          `  chain forward { type filter hook forward priority 0; policy accept; ${drop}; }`,
          "}",
        ].join("\n");
  await world.exec("home", ["nft", "-f", "/dev/stdin"], { input: `${text}\n` });
}
