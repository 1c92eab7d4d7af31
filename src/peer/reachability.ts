// Reachable from the outside, the peer's half: the hub asked (in a whoami answer) for its public ports
// to be probed from the internet. This peer resolves the hub's endpoint, makes sure its route there is
// not the tunnel, connects to each TCP port, sends a datagram to each UDP port, and adds its own
// tunnel's last handshake (which proves the WireGuard port from this network).
import type { Host } from "../host/types.ts";
import type { ProbeReport } from "../protocol/requests.ts";
import type { ProbeTask } from "../protocol/responses.ts";

/** How long each TCP connect may take: a dropped SYN is retried by the kernel at 1 s, then 3 s. */
export const CONNECT_TIMEOUT_MS = 3000;

export async function runProbeTask(
  host: Host,
  task: ProbeTask,
  tunnel: { interface: string; hubKey: string },
  nowS: number,
): Promise<ProbeReport> {
  const name = task.host.replace(/^\[|\]$/g, "");
  const addresses = await host.net.resolve(name);
  const address = addresses[0] ?? null;
  const stats = (await host.stats.wgPeers(tunnel.interface))?.find((p) => p.publicKey === tunnel.hubKey);
  const handshake = stats?.latestHandshake
    ? { ageS: Math.max(0, Math.round(nowS - stats.latestHandshake)), endpoint: stats.endpoint }
    : null;
  if (!address) return { address, via: null, handshake, results: [], error: `${name} does not resolve` };
  const via = (await host.probe.route(address))?.device ?? null;
  if (via === tunnel.interface)
    return { address, via, handshake, results: [], error: `the route to ${address} goes through the tunnel` };
  const results = await Promise.all(
    task.targets
      .filter((t) => t.what !== "wireguard")
      .map(async (t) => {
        if (t.proto === "tcp")
          return { ...t, result: await host.probe.connect(address, t.port, CONNECT_TIMEOUT_MS) };
        await host.probe.datagram(address, t.port, `porthole reachability probe ${task.id}\n`);
        return { ...t, result: "sent" as const };
      }),
  );
  return {
    address,
    via,
    handshake,
    results: results.map(({ proto, port, result }) => ({ proto, port, result })),
  };
}
