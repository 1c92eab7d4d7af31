// Each forward answers through the tunnel: the same TCP connect `porthole status` makes from the hub to
// the forward's target (hub/status.ts probeForwards), said as status says it (protocol/probe-text.ts),
// each way it can end with its own fix: refused (the peer is reached, nothing accepts on the port),
// timed out (the tunnel or a drop: the peer's handshake, and when the hub last received from it, say
// which is likelier), unreachable (routing). An accepted connect is ok only when an agent peer applied
// the spec the hub serves it (the applied check): else unknown, as status says.
import type { ConnectResult } from "../host/types.ts";
import { forwardChanged } from "../hub/applied.ts";
import { probeForwards } from "../hub/status.ts";
import { formatRange } from "../net/ports.ts";
import type { Target } from "../plan/plan.ts";
import { type ProbePeer, probeFinding, tunnelReadsDown } from "../protocol/probe-text.ts";
import { describeForward } from "../reconcile/summary.ts";
import type { Forward } from "../spec/types.ts";
import type { Check, CheckResult } from "./check.ts";
import type { HubContext } from "./hub-context.ts";
import { peersSeen } from "./hub-peers.ts";

export const forwards: Check<HubContext> = {
  id: "forwards",
  about: "each TCP forward's target answers a connect from the hub through the tunnel",
  run: async (ctx) => {
    const { spec } = ctx;
    // Nothing to probe: no row (an "ok" would claim a check that was not made).
    if (!spec.forwards.length) return [];
    const [probes, { peers }] = await Promise.all([
      probeForwards(ctx.host, spec, ctx.plan.targets),
      peersSeen(ctx),
    ]);
    return spec.forwards.map((f, i): CheckResult => {
      const { target, result } = probes[i] ?? { target: null, result: null };
      const what = describeForward(f);
      const device = spec.peers.find((p) => p.name === f.peer)?.kind === "device";
      if (!target || result === null)
        return {
          id: "forwards",
          status: "unknown",
          found: `${what}: unknown (${f.protos.includes("tcp") ? "no IPv4 target; IPv6 targets are not probed" : "UDP is not probed"})`,
          fix: [
            device
              ? `on ${f.peer} (a device: no porthole there): something must be bound to ${formatRange(f.targetPort)} on its tunnel address or 0.0.0.0`
              : `on ${f.peer}: porthole doctor (checks something is bound to ${formatRange(f.targetPort)} on an address the tunnel reaches)`,
          ],
        };
      const udp = f.protos.includes("udp") ? "; udp is not probed (no handshake to probe)" : "";
      const peer = peers.find((p) => p.name === f.peer);
      const r = judgeProbe(f, what, target, result, peer, spec.hub.interface, udp, device);
      // The hub's connect came from its own address; clients come through what the peer's apply sets up
      // (a forward unchanged since the peer's last apply is set up as the spec wants).
      const side = peer?.applied;
      if (r.status !== "ok" || !side || !forwardChanged(side, f.name)) return r;
      return {
        id: "forwards",
        status: "unknown",
        found: `${r.found}, but that says nothing of its clients: ${side.note}`,
        fix: [`see the applied check for ${f.peer}`],
      };
    });
  },
};

/** One forward's verdict from how the hub's connect to its target ended. */
function judgeProbe(
  f: Forward,
  what: string,
  target: Target,
  result: ConnectResult,
  peer: ProbePeer | undefined,
  iface: string,
  udp = "",
  /** The peer is a device (a phone, a laptop with wg-quick): it runs no porthole to ask. */
  device = false,
): CheckResult {
  const at = `${target.addr}:${target.targetPort}`;
  const port = target.targetPort;
  const whatListens = device
    ? `${f.peer} is a device, with no porthole: look there at what listens on ${port} (ss -ltn on a laptop)`
    : `porthole doctor there shows what listens on ${port} and on which address`;
  const found = `${what}: ${probeFinding({ outcome: result.outcome, target: at, error: result.error, peer })}`;
  const bindFix = `a service bound to 127.0.0.1 refuses connections through the tunnel: bind it to 0.0.0.0:${port} or ${at}, then restart it`;
  const firewallFix = `on ${f.peer}: accept tcp/${port} from ${iface} in its firewall (nft list ruleset; ufw allow in on ${iface} to any port ${port} proto tcp)`;
  switch (result.outcome) {
    case "accepted":
      return { id: "forwards", status: "ok", found: `${found}${udp}` };
    case "refused":
      return {
        id: "forwards",
        status: "fail",
        found,
        fix: [`on ${f.peer}: start the service or check the forward's target port (${whatListens})`, bindFix],
      };
    case "timeout":
      return {
        id: "forwards",
        status: "fail",
        found,
        fix:
          peer && tunnelReadsDown(peer)
            ? [
                device
                  ? `on ${f.peer}: is its WireGuard tunnel on, and the device online?`
                  : `on ${f.peer}: porthole status (its handshake with the hub) and porthole doctor: is porthole's agent running, and the machine online?`,
              ]
            : [
                firewallFix,
                device
                  ? `on ${f.peer}: something must listen on ${port} (${whatListens})`
                  : `on ${f.peer}: porthole doctor (it checks that something listens on ${port})`,
              ],
      };
    case "unreachable":
      return {
        id: "forwards",
        status: "fail",
        found,
        fix: [
          `on the hub: ip route get ${target.addr} (it must leave by ${iface}) and wg show ${iface} (${f.peer} needs an endpoint and ${target.addr} in its allowed ips)`,
          `on ${f.peer}: a firewall rule that rejects tcp/${port} with icmp admin-prohibited or host-unreachable reads the same (nft list ruleset)`,
        ],
      };
    case "error":
      return {
        id: "forwards",
        status: "unknown",
        found,
        fix: [`run porthole doctor again; ${result.error ?? "the error"} is the hub's own, not the target's`],
      };
  }
}
