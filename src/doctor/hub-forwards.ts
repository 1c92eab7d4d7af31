// Each forward answers through the tunnel: the same TCP connect `porthole status` makes from the hub to
// the forward's target (hub/status.ts probeForwards). A service on the peer bound to 127.0.0.1, a
// stopped service or an offline peer all look alike from here; the peer's own doctor tells them apart.
import { peerStatus, probeForwards } from "../hub/status.ts";
import { formatRange } from "../net/ports.ts";
import { describeForward } from "../reconcile/summary.ts";
import type { Check, CheckResult } from "./check.ts";
import type { HubContext } from "./hub-context.ts";

export const forwards: Check<HubContext> = {
  id: "forwards",
  about: "each TCP forward's target answers a connect from the hub through the tunnel",
  run: async (ctx) => {
    const { spec } = ctx;
    if (!spec.forwards.length) return { id: "forwards", status: "ok", found: "no forwards" };
    const [probes, { peers }] = await Promise.all([
      probeForwards(ctx.host, spec, ctx.plan.targets),
      peerStatus(ctx.host, spec, Math.floor(Date.now() / 1000)),
    ]);
    return spec.forwards.map((f, i): CheckResult => {
      const { target, reachable } = probes[i] ?? { target: null, reachable: null };
      const what = describeForward(f);
      const udp = f.protos.includes("udp") ? "; udp is not probed (no handshake to probe)" : "";
      if (!target || reachable === null)
        return {
          id: "forwards",
          status: "unknown",
          found: `${what}: unknown (${f.protos.includes("tcp") ? "no IPv4 target; IPv6 targets are not probed" : "UDP is not probed"})`,
          fix: [
            `on ${f.peer}: porthole doctor (checks something is bound to ${formatRange(f.targetPort)} on an address the tunnel reaches)`,
          ],
        };
      const at = `${target.addr}:${target.targetPort}`;
      if (reachable)
        return {
          id: "forwards",
          status: "ok",
          found: `${what}: ${at} accepts connections from the hub${udp}`,
        };
      const peer = peers.find((p) => p.name === f.peer);
      const offline =
        peer && !peer.online
          ? `; ${f.peer} is offline (${peer.handshakeAgeSeconds === null ? "no handshake yet" : `last handshake ${peer.handshakeAgeSeconds} s ago`})`
          : "";
      return {
        id: "forwards",
        status: "fail",
        found: `${what}: ${at} does not accept connections from the hub through the tunnel${offline}: the service is down, bound to 127.0.0.1 only, or dropped by ${f.peer}'s firewall`,
        fix: [
          `on ${f.peer}: porthole doctor (it checks that something listens on ${target.targetPort} and on which address)`,
          `a service bound to 127.0.0.1 is unreachable through the tunnel: bind it to 0.0.0.0:${target.targetPort} or ${at}, then restart it`,
          ...(offline
            ? [`on ${f.peer}: porthole status (its handshake with the hub) and porthole doctor`]
            : []),
        ],
      };
    });
  },
};
