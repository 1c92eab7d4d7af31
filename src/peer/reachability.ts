// Reachable from the outside, the peer's half: the hub asked (in a whoami answer) for its public ports
// to be probed from the internet. This peer resolves the hub's endpoint, makes sure its route there is
// not the tunnel, connects to each TCP port, sends a datagram to each UDP port, and adds its own
// tunnel's last handshake (which proves the WireGuard port from this network).
import type { ConnectResult, Host } from "../host/types.ts";
import type { ProbeReport } from "../protocol/requests.ts";
import type { ProbeTask } from "../protocol/responses.ts";

/** How long each TCP connect may take: a dropped SYN is retried by the kernel at 1 s, then 3 s. */
export const CONNECT_TIMEOUT_MS = 3000;

type Result = ProbeReport["results"][number];

/**
 * A connect's result as the report says it: "open" for accepted (the wire's word since the first
 * hubs); an error with its errno, the only result that carries one (older hubs refuse the key).
 */
function reported(c: ConnectResult): Pick<Result, "result" | "error"> {
  if (c.outcome === "accepted") return { result: "open" };
  if (c.outcome === "error") return { result: "error", error: c.error ?? "unknown" };
  return { result: c.outcome };
}

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
      .map(async ({ proto, port }): Promise<Result> => {
        if (proto === "tcp")
          return { proto, port, ...reported(await host.probe.connect(address, port, CONNECT_TIMEOUT_MS)) };
        await host.probe.datagram(address, port, `porthole reachability probe ${task.id}\n`);
        return { proto, port, result: "sent" };
      }),
  );
  return { address, via, handshake, results };
}
