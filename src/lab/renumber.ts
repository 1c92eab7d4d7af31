// Renumbering: the hub or the home router gets a new public address, as a VPS provider or an ISP hands
// one out. What a peer behind a dynamic address and a hub that moved look like from both sides.
import { run } from "../host/run.ts";
import { parseAddr } from "../net/ip.ts";
import { LAB, LAB_IFACES } from "./topology.ts";
import type { World } from "./world.ts";

/**
 * Moves the hub to another public address on the client's link (203.0.113.4-254), as a VPS that gets a
 * new IP. Peers that reach it by name need the name to follow (setHostsEntry).
 */
export async function changeHubAddress(world: World, from: string, to: string): Promise<void> {
  const last = Number(to.split(".")[3]);
  if (parseAddr(to)?.family !== 4 || !to.startsWith("203.0.113.") || !(last >= 4 && last <= 254)) {
    throw new Error(`new hub address ${to}: expected 203.0.113.4-254 (.2 and .3 are the client's)`);
  }
  await run(["ip", "-n", world.netns("hub"), "-batch", "-"], {
    input: [
      `address del ${from}/24 dev ${LAB_IFACES.hub.public}`,
      `address add ${to}/24 dev ${LAB_IFACES.hub.public}`,
      `route replace default via ${LAB.client} dev ${LAB_IFACES.hub.public}`,
      "",
    ].join("\n"),
  });
  await run(["ip", "-n", world.netns("client"), "neigh", "flush", "dev", LAB_IFACES.client.toHub]);
}

/**
 * Moves the home router's public address (e.g. 198.51.100.2 → 198.51.100.3), as an ISP handing out a new
 * IP would: the old address disappears, the default route is put back, and home's connection tracking is
 * flushed so existing NAT mappings die. The new address must be in 198.51.100.0/24 (the client's link).
 * `onMoved` is called the moment the new address and route are in place (the link is back; the rest
 * only tidies up), for a benchmark's clock.
 */
export async function changeHomeAddress(
  world: World,
  newAddr: string,
  opts: { onMoved?: () => void } = {},
): Promise<void> {
  const last = Number(newAddr.split(".")[3]);
  if (parseAddr(newAddr)?.family !== 4 || !newAddr.startsWith("198.51.100.") || !(last >= 2 && last <= 254)) {
    throw new Error(
      `new home address ${newAddr}: expected 198.51.100.2-254 (the client's link; .1 is the client)`,
    );
  }
  const old = world.homeWan;
  if (old === newAddr) return;
  const wan = LAB_IFACES.home.wan;
  await run(["ip", "-n", world.netns("home"), "-batch", "-"], {
    input: [
      `address del ${old}/24 dev ${wan}`,
      `address add ${newAddr}/24 dev ${wan}`,
      `route replace default via ${LAB.clientToHome} dev ${wan}`,
      "",
    ].join("\n"),
  });
  opts.onMoved?.();
  world.update((s) => {
    s.homeWan = newAddr;
  });
  // The client may still have the old address's neighbour entry; it would expire, but make it quick.
  await run(["ip", "-n", world.netns("client"), "neigh", "flush", "dev", LAB_IFACES.client.toHome]);
  await world.exec("home", ["conntrack", "-F"], { allowFail: true }).then((r) => {
    if (r.code !== 0 && !/0 flow entries/.test(r.stderr))
      throw new Error(`conntrack -F in home: ${r.stderr.trim()}`);
  });
}
