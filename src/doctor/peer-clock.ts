// This machine's clock against the hub's (its API's Date header): join tokens expire by time, and
// handshake ages and logs are read across both machines.

import { hubApiProbe } from "./peer-handshake.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";

/** Seconds of difference that are worth a warning / a failure. The Date header counts whole seconds. */
export const CLOCK_WARN_S = 30;
export const CLOCK_FAIL_S = 300;

export function judgeClock(skewMs: number, roundTripMs: number): Outcome {
  const skew = Math.round(skewMs / 1000);
  const abs = Math.abs(skew);
  const side = skew > 0 ? "behind" : "ahead of";
  const found =
    abs <= 1
      ? "this machine's clock agrees with the hub's (within 1 s)"
      : `this machine's clock is ${abs} s ${side} the hub's`;
  const fix =
    "turn on time synchronisation on both machines: timedatectl set-ntp true (systemd-timesyncd or chrony)";
  if (abs >= CLOCK_FAIL_S)
    return {
      status: "fail",
      found: `${found}: join tokens and their expiry are judged by the hub's clock`,
      fix,
    };
  if (abs >= CLOCK_WARN_S) return { status: "warn", found, fix };
  return { status: "ok", found: `${found}${roundTripMs > 2000 ? ` (round trip ${roundTripMs} ms)` : ""}` };
}

export async function checkClock(s: PeerScene): Promise<Outcome> {
  if (!s.api)
    return {
      status: "unknown",
      found: "no hub API to compare clocks with (not joined through a hub daemon)",
    };
  const r = await s.host.probe.http(hubApiProbe(s.api), 3000);
  if ("error" in r || r.remoteMs === null)
    return {
      status: "unknown",
      found: `the hub's API did not answer with its time (${"error" in r ? r.error : "no Date header"})`,
    };
  // The Date header is truncated to the second: the hub's clock was in [remote, remote + 1 s).
  return judgeClock(r.remoteMs + 500 - r.localMs, r.roundTripMs);
}
