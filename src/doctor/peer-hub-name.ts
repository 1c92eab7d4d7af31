// The hub's endpoint name: it resolves, and to the address the tunnel uses.
import { parseAddr } from "../net/ip.ts";
import { endpointAddress, hubPeer, type Outcome, type PeerScene } from "./peer-scene.ts";

/** null: an address with no endpoint on the tunnel yet (nothing to resolve, nothing to compare). */
export async function checkHubName(s: PeerScene): Promise<Outcome | null> {
  const { hub } = s.spec;
  const host = hub.endpoint.host.replace(/^\[|\]$/g, "");
  const p = await hubPeer(s);
  const used = p?.endpoint ? endpointAddress(p.endpoint) : null;
  if (parseAddr(host)) {
    if (!used) return null;
    if (used === host)
      return {
        status: "ok",
        found: `the endpoint is an address (${host}), the one the tunnel uses: nothing to resolve`,
      };
    return {
      status: "warn",
      found: `the spec says ${host} but the tunnel uses ${used} (the hub answered from another address)`,
      fix: `if the hub moved, set hub.endpoint: ${used} on the hub and porthole apply`,
    };
  }
  const addresses = await s.host.net.resolve(host);
  if (!addresses.length)
    return {
      status: "fail",
      found: `${host} does not resolve`,
      fix: `give ${host} an A/AAAA record with the hub's public address (check /etc/resolv.conf here)`,
    };
  const list = addresses.join(", ");
  if (!used)
    return { status: "unknown", found: `${host} resolves to ${list}; the tunnel has no endpoint yet` };
  if (addresses.includes(used))
    return { status: "ok", found: `${host} resolves to ${list}, the address the tunnel uses` };
  return {
    status: "warn",
    found: `${host} resolves to ${list} but the tunnel uses ${used}`,
    fix: `the agent (porthole peer run) re-resolves once the handshake is stale; now: wg set ${hub.interface} peer ${hub.publicKey} endpoint ${hostPort(addresses[0] ?? "", hub.endpoint.port)}; if ${used} is right, fix the DNS record`,
  };
}

const hostPort = (a: string, port: number) => (a.includes(":") ? `[${a}]:${port}` : `${a}:${port}`);
