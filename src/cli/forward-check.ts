// What `porthole forward add` says once the hub applied the forward: the hub's own probe of the target
// through the tunnel (status's TCP connect, in status's words: protocol/probe-text.ts), so a target that
// nothing accepts on is said at once, as `expose` says it on the peer. A warning, never a failure: the
// forward is in place, and works once something accepts there.
import type { ConnectResult } from "../host/types.ts";
import { PROBE_TIMEOUT_MS } from "../hub/probe-cache.ts";
import { probeFinding } from "../protocol/probe-text.ts";
import type { ForwardView } from "../protocol/responses.ts";
import type { PeerStatus } from "../protocol/status.ts";

/** The target the hub probes: the peer's address and the first target port (a TCP connect); null: udp only. */
export function probedPort(f: ForwardView): number | null {
  if (!f.proto.split("+").includes("tcp")) return null;
  return Number(f.targetPort.split("-")[0]);
}

/**
 * The lines for what the hub found at `f`'s target: `out` (stdout) when something accepted, else
 * `warnings` (stderr). `peer`: the forward's peer as the hub sees it (undefined: not among the hub's
 * peers); `result`: how the connect ended, null when it was not made (udp only, or the hub's interface
 * down: `peer.online` null).
 */
export function forwardCheck(
  f: ForwardView,
  peer: PeerStatus | undefined,
  result: ConnectResult | null,
): { out: string[]; warnings: string[] } {
  const at = `${f.peer}:${f.targetPort}`;
  const port = probedPort(f);
  if (port === null)
    return { out: [], warnings: [`not checked whether anything answers on ${at}: UDP is not probed`] };
  if (!peer || peer.online === null || !result)
    return {
      out: [],
      warnings: [
        `not checked whether anything accepts on ${at}: ${peer ? "the hub's WireGuard interface is down" : `the hub does not list ${f.peer}`}`,
      ],
    };
  const target = `${peer.address}:${port}`;
  const found = probeFinding({ outcome: result.outcome, target, error: result.error, peer });
  if (result.outcome === "accepted") return { out: [`  checked from the hub: ${found}`], warnings: [] };
  if (result.outcome === "error") return { out: [], warnings: [`not checked: ${found}`] };
  // Refused: the tunnel carries it, so a listener is what is missing; a timeout or an unreachable may be
  // the tunnel or a firewall, which a listener alone would not mend.
  const until =
    result.outcome === "refused"
      ? `something accepts on ${at}`
      : `the hub's connection to ${at} gets through`;
  return {
    out: [],
    warnings: [
      `warning: nothing accepted a connection on ${f.peer}:${port} from the hub: ${found}`,
      `  the forward is in place on the hub; it works once ${until} (\`porthole status\` probes it again)`,
    ],
  };
}

/**
 * Probes the new forward's target from the hub (`peers`: the hub's view of its peers; `connect`: the
 * host's TCP probe) and prints what it found. Never throws for what it finds: it says it.
 */
export async function checkFromHub(
  f: ForwardView,
  peers: () => Promise<PeerStatus[]>,
  connect: (address: string, port: number, timeoutMs: number) => Promise<ConnectResult>,
): Promise<void> {
  let lines: { out: string[]; warnings: string[] };
  try {
    const peer = (await peers()).find((p) => p.name === f.peer);
    const port = probedPort(f);
    const probe = peer && peer.online !== null && port !== null;
    lines = forwardCheck(f, peer, probe ? await connect(peer.address, port, PROBE_TIMEOUT_MS) : null);
  } catch (e) {
    lines = {
      out: [],
      warnings: [
        `not checked whether anything accepts on ${f.peer}:${f.targetPort}: ${(e as Error).message}`,
      ],
    };
  }
  for (const l of lines.out) console.log(l);
  for (const l of lines.warnings) console.error(l);
}
