// A plan must not cut the SSH session of the admin who applies it.
import type { WgState } from "../host/types.ts";
import { contains, parseAddr, parseCidr } from "../net/ip.ts";
import type { HostPlan } from "../plan/plan.ts";

/** Returns why the plan would cut the session described by $SSH_CONNECTION, or null. */
export function checkSshPath(sshConnection: string | undefined, plan: HostPlan, wg: WgState): string | null {
  const [clientIp, , serverIp, serverPort] = (sshConnection ?? "").trim().split(/\s+/);
  if (!clientIp || !serverIp || !serverPort) return null;
  const client = parseAddr(clientIp);
  const server = parseAddr(serverIp);
  if (!client || !server) return null;
  const inTunnel = wg.addresses.some((a) => {
    const c = parseCidr(a);
    return c && contains({ ...c, prefix: c.family === 4 ? 32 : 128 }, server);
  });
  if (plan.role === "hub" && !inTunnel) {
    const hijack = plan.targets.find((t) => t.proto === "tcp" && t.port === Number(serverPort));
    if (hijack)
      return `forward "${hijack.forward}" takes tcp/${serverPort}, the port your SSH session (${clientIp} → ${serverIp}) came in on`;
  }
  if (!inTunnel) return null;
  const kept = plan.wireguard.addresses.some((a) => a.split("/")[0] === serverIp);
  if (!kept)
    return `your SSH session reaches this host at ${serverIp} through ${plan.wireguard.interface}, and the plan removes that address`;
  const via = plan.wireguard.peers.some((p) =>
    p.allowedIps.some((a) => {
      const c = parseCidr(a);
      return c && contains(c, client);
    }),
  );
  if (!via)
    return `your SSH session comes from ${clientIp} through ${plan.wireguard.interface}, and the plan removes the peer that carries it`;
  return null;
}
