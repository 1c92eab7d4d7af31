// Each forward's target port on this peer: something serves it, on an address the tunnel reaches.
// A service bound to 127.0.0.1 answers `curl localhost` and nothing else: the hub's packets arrive
// for the tunnel address (snat: from the hub's tunnel address; transparent: from the client).
import type { ConnectResult, Listener } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import { formatRange } from "../net/ports.ts";
import type { Forward, Proto } from "../spec/types.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";

/** Ports probed per forward and protocol; a larger range is sampled from its start. */
export const MAX_PORTS = 16;

const WILDCARD = new Set(["0.0.0.0", "::", "*", "[::]"]);
const isLoopback = (l: Listener) => l.device === "lo" || l.address === "::1" || l.address.startsWith("127.");

/**
 * One target port: `listeners` as `ss -l` shows them, `connect` the result of a TCP connect to the
 * tunnel address (null for UDP, which has no handshake to probe).
 */
export function judgeTarget(
  proto: Proto,
  port: number,
  tunnelAddress: string,
  listeners: Listener[],
  connect: ConnectResult | null,
  iface = "wg0",
): Outcome {
  const here = listeners.filter((l) => l.proto === proto && l.port === port);
  const where = [...new Set(here.map((l) => (l.device ? `${l.address}%${l.device}` : l.address)))].join(", ");
  const prog = here.flatMap((l) => l.processes)[0];
  const what = `${proto}/${port}${prog ? ` (${prog})` : ""}`;
  const reachable = here.some((l) => !l.device && (WILDCARD.has(l.address) || l.address === tunnelAddress));
  const bindFix = `make the service listen on 0.0.0.0:${port} or ${tunnelAddress}:${port} (e.g. rclone serve … --addr 0.0.0.0:${port}; Docker: -p ${port}:…, not -p 127.0.0.1:${port}:…), then restart it`;
  if (proto === "tcp" && connect?.outcome === "accepted")
    return {
      status: "ok",
      found: `${what} answers on ${tunnelAddress}${where ? ` (listening on ${where})` : " (through a DNAT: no socket here)"}`,
    };
  if (here.length && !reachable) {
    const loop = here.every(isLoopback);
    return {
      status: "fail",
      found: `${what} listens on ${where} only: ${loop ? "loopback is" : "that address is"} unreachable through the tunnel (${tunnelAddress})`,
      fix: bindFix,
    };
  }
  if (proto === "udp") {
    if (reachable) return { status: "ok", found: `${what} is bound on ${where}` };
    return {
      status: "warn",
      found: `nothing on this machine is bound to udp/${port} (fine if a container or VM behind a DNAT here serves it)`,
      fix: `start the service on udp/${port}, bound to 0.0.0.0 or ${tunnelAddress}`,
    };
  }
  if (!here.length)
    return {
      status: "fail",
      found: `nothing listens on tcp/${port} (a connect to ${tunnelAddress}:${port} ${connect ? connectText(connect) : "was not tried"})`,
      fix: `start the service the forward points at, listening on 0.0.0.0:${port} or ${tunnelAddress}:${port}`,
    };
  if (connect?.outcome === "error")
    return {
      status: "unknown",
      found: `tcp/${port} listens on ${where} but the connect to ${tunnelAddress}:${port} failed here (${connect.error}): it says nothing about the service`,
      fix: "run porthole doctor again",
    };
  return {
    status: "fail",
    found: `tcp/${port} listens on ${where} but a connect to ${tunnelAddress}:${port} ${connect ? connectText(connect) : "was not tried"}: a firewall on this machine ${connect?.outcome === "timeout" ? "drops" : "rejects"} it`,
    fix: `accept tcp/${port} from ${iface} in this machine's firewall (e.g. ufw allow in on ${iface} to any port ${port} proto tcp)`,
  };
}

/** "was refused", "timed out", "was unreachable (EHOSTUNREACH)", "failed (EMFILE)". */
function connectText(c: ConnectResult): string {
  if (c.outcome === "accepted") return "was accepted";
  if (c.outcome === "refused") return "was refused";
  if (c.outcome === "timeout") return "timed out";
  if (c.outcome === "unreachable") return `was unreachable (${c.error})`;
  return `failed (${c.error})`;
}

const RANK = { ok: 0, unknown: 1, warn: 2, fail: 3 } as const;

/** One outcome per forward to this peer and protocol: the worst of its target ports. */
export async function checkTargets(s: PeerScene): Promise<{ name: string; outcome: Outcome }[]> {
  const mine = s.spec.forwards.filter((f) => f.peer === s.me.name);
  if (!mine.length) return [];
  const tunnel = formatAddr(s.me.address);
  const listeners = await s.host.sockets.listening(true).catch(() => [] as Listener[]);
  const out: { name: string; outcome: Outcome }[] = [];
  for (const f of mine)
    for (const proto of f.protos)
      out.push({ name: `${f.name} ${proto}`, outcome: await forwardTarget(s, f, proto, tunnel, listeners) });
  return out;
}

async function forwardTarget(
  s: PeerScene,
  f: Forward,
  proto: Proto,
  tunnel: string,
  listeners: Listener[],
): Promise<Outcome> {
  const ports: number[] = [];
  for (let p = f.targetPort.from; p <= f.targetPort.to && ports.length < MAX_PORTS; p++) ports.push(p);
  const judged = await Promise.all(
    ports.map(async (p) =>
      judgeTarget(
        proto,
        p,
        tunnel,
        listeners,
        proto === "tcp" ? await s.host.probe.connect(tunnel, p, 1000) : null,
        s.spec.hub.interface,
      ),
    ),
  );
  if (judged.length === 1) return judged[0] as Outcome;
  const worst = judged.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a));
  const okCount = judged.filter((j) => j.status === "ok").length;
  const range = `${proto}/${formatRange(f.targetPort)}`;
  const sampled =
    judged.length < f.targetPort.to - f.targetPort.from + 1 ? ` (the first ${judged.length} probed)` : "";
  if (worst.status === "ok")
    return { status: "ok", found: `${range}: all ${okCount} ports answer${sampled}` };
  return { ...worst, found: `${range}: ${okCount} of ${judged.length} ok${sampled}; ${worst.found}` };
}
