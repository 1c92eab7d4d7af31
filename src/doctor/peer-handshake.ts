// The tunnel to the hub: a recent handshake, and from which endpoint.
import { STALE_HANDSHAKE_S } from "../peer/stale.ts";
import { handshakeText } from "../protocol/probe-text.ts";
import { applyFix, hubPeer, type Outcome, type PeerScene } from "./peer-scene.ts";

/**
 * ok when the hub's last handshake is younger than STALE_HANDSHAKE_S (135 s, past WireGuard's 2-minute
 * rekey: a live tunnel re-handshakes every 2 minutes while traffic flows, and the agent's probe every
 * 2 s keeps it flowing); fail when it is older, none happened in this session, or the interface or hub peer is missing.
 */
export async function checkHandshake(s: PeerScene): Promise<Outcome> {
  const { hub } = s.spec;
  const p = await hubPeer(s);
  const port = hub.endpoint.port;
  if (p === null)
    return {
      status: "fail",
      found: `${hub.interface} does not exist: no tunnel to the hub (the checks through it are not judged)`,
      fix: `bring it up: ${applyFix(s)}; or restart the agent (systemctl restart porthole-peer)`,
    };
  if (!p)
    return {
      status: "fail",
      found: `${hub.interface} has no peer with the hub's key ${hub.publicKey.slice(0, 8)}…`,
      fix: "porthole apply",
    };
  const toHub = `the hub's udp/${port} at ${p.endpoint ?? hub.endpoint.host}`;
  // A peer removed on the hub (`peer rm`) meets the same silence: WireGuard drops an unknown key's packets.
  const fix = `from here, ${toHub} must answer: run \`porthole doctor\` on the hub (its WireGuard port, firewall and cloud firewall) and \`porthole peer ls\` there (a peer removed on the hub gets no answer either), and check this network lets UDP out to port ${port}`;
  // WireGuard forgets a handshake when the peer entry is made again, as the agent does to renew a
  // session the hub stopped answering: "none in this session", not "never".
  if (!p.latestHandshake)
    return {
      status: "fail",
      found: `no handshake with the hub in this WireGuard session (endpoint ${p.endpoint ?? "none"}; a session starts when the tunnel is set up, and again when the agent renews it because the hub stopped answering)`,
      fix,
    };
  const age = Math.max(0, Math.round(s.now() / 1000 - p.latestHandshake));
  if (age > STALE_HANDSHAKE_S)
    return {
      status: "fail",
      found: `${handshakeText(age)} (endpoint ${p.endpoint}): the hub has not answered for over ${STALE_HANDSHAKE_S} seconds`,
      fix,
    };
  // In the words the hub's status and doctor say a handshake's age in ("40 seconds ago", "10 minutes ago").
  return { status: "ok", found: `${handshakeText(age)}, endpoint ${p.endpoint}` };
}

/**
 * Doctor's request to the hub's API: GET /v1/spec, which changes nothing. Not the agent's whoami: its
 * answer hands out the hub's outside-probe task (taken by doctor, the hub's own doctor would wait for it
 * in vain) and counts as the agent being heard (hub status would call a stopped agent one that does
 * not report).
 */
export const hubApiProbe = (api: string) => `${api}/v1/spec`;

/** The hub's API through the tunnel: its daemon answers. */
export async function checkHubApi(s: PeerScene): Promise<Outcome> {
  if (!s.api)
    return {
      status: "unknown",
      found: "this peer was not joined through a hub daemon (no peer.json): its API is not used",
    };
  const r = await s.host.probe.http(hubApiProbe(s.api), 3000);
  if ("error" in r)
    return {
      status: "fail",
      found: `the hub's API at ${s.api} did not answer through the tunnel (${r.error})`,
      fix:
        r.error === "ECONNREFUSED"
          ? "the tunnel works but the hub daemon is not running: on the hub, systemctl restart porthole-hub"
          : // Silence has three causes (as peer/client.ts says them): the tunnel, the hub daemon, or this
            // peer removed on the hub (its handshake reads ok for minutes: the hub drops its packets).
            "see the handshake line; on the hub: porthole status (its daemon), and porthole peer ls (whether this peer is still there: the hub drops a removed peer's packets)",
    };
  if (r.status !== 200)
    return {
      status: "fail",
      found: `the hub's API at ${s.api} answered ${r.status}`,
      fix: "on the hub: porthole peer ls (is this peer still known?)",
    };
  return { status: "ok", found: `the hub's API at ${s.api} answers (${r.roundTripMs} ms)` };
}
