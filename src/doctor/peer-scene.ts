// What the peer's checks look at: this machine (the Host), its spec and identity, and the tunnel's
// peers as `wg show` counts them (Host.stats). Built once per `porthole doctor` run; tests build it by hand.

import type { Host, WgDumpPeer } from "../host/types.ts";
import type { Peer, Spec } from "../spec/types.ts";
import type { SpecCopy } from "./peer-spec.ts";

export type Status = "ok" | "warn" | "fail" | "unknown";

/** One check's answer: what was found, and the command or setting that fixes it (not for ok). */
export interface Outcome {
  status: Status;
  found: string;
  fix?: string;
}

export interface PeerScene {
  host: Host;
  spec: Spec;
  /** This peer's entry in the spec. */
  me: Peer;
  /** The hub's API inside the tunnel (peer.json's `api`: http://10.8.0.1:PORT), when joined. */
  api: string | null;
  /** The state directory (where the agent's pid file is). */
  stateDir: string;
  /** Unix time in ms (the tests' clock). */
  now(): number;
  /**
   * How this peer's copy of the hub's spec compares with the hub's (the CLI asks the hub; absent on a
   * peer set up with apply). When it is behind, `spec` and `me` are the hub's.
   */
  copy?: SpecCopy;
}

/**
 * The hub as this peer's tunnel interface counts it (handshake, endpoint); null when the interface
 * does not exist, undefined when it has no peer with the hub's key.
 */
export async function hubPeer(s: PeerScene): Promise<WgDumpPeer | null | undefined> {
  const peers = await s.host.stats.wgPeers(s.spec.hub.interface);
  return peers === null ? null : peers.find((p) => p.publicKey === s.spec.hub.publicKey);
}

/** "203.0.113.1" of "203.0.113.1:51820" or "[2001:db8::1]:51820". */
export const endpointAddress = (endpoint: string) => endpoint.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");

/**
 * The fix for this peer's part of the spec missing from the machine: `porthole apply` applies the
 * copy, so when the copy is behind the hub's it is the agent, which takes the hub's spec first.
 */
export function applyFix(s: PeerScene): string {
  return s.copy?.state === "behind"
    ? "let the agent take the hub's spec (see the spec line): it applies this peer's part within 2 s"
    : "porthole apply (the running agent also repairs this within 30 s)";
}
