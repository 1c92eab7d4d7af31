// The peer's checks (issue 11's peer side adds them here), in the order doctor reports them.
import type { Host } from "../host/types.ts";
import type { Check } from "./check.ts";

export interface PeerContext {
  host: Host;
  stateDir: string;
}

export async function peerContext(host: Host, stateDir: string): Promise<PeerContext> {
  return { host, stateDir };
}

/** Until the peer's checks land, the peer's doctor says it checked nothing (never "ok"). */
const notYet: Check<PeerContext> = {
  id: "peer",
  about: "the peer's checks",
  run: async () => ({
    id: "peer",
    status: "unknown",
    found: "the peer's checks are not written yet: doctor checked nothing on this peer",
    fix: ["porthole status (handshake and forwards)"],
  }),
};

export const PEER_CHECKS: Check<PeerContext>[] = [notYet];
