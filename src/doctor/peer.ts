// The peer's checks, in the order doctor reports them: the agent, the tunnel, the hub's API and name, each
// forward's target here, this machine's firewall for clients' packets, the path MTU, transparent routing, the clock.
import type { Host } from "../host/types.ts";
import { readIdentity, readLocalSpec } from "../peer/local.ts";
import { readApplied } from "../reconcile/state.ts";
import { loadSpec } from "../spec/load.ts";
import { type Check, type CheckResult, NothingToCheck } from "./check.ts";
import { checkAgent } from "./peer-agent.ts";
import { checkClock } from "./peer-clock.ts";
import { checkFirewall } from "./peer-firewall.ts";
import { checkHandshake, checkHubApi } from "./peer-handshake.ts";
import { checkHubName } from "./peer-hub-name.ts";
import { checkPathMtu } from "./peer-path-mtu.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";
import { checkSnatPool, snatPoolChecked } from "./peer-snat-pool.ts";
import { checkSpecCopy, type HubSpecAnswer, sceneWithHubSpec } from "./peer-spec.ts";
import { checkTargets } from "./peer-targets.ts";
import { checkTransparent, transparentChecked } from "./peer-transparent.ts";

export type PeerContext = PeerScene;

/**
 * The peer's context. A joined peer (peer.json: its name and the hub's API) is judged by the spec its
 * agent keeps in `configDir` (applied.json is rewritten only when the host changed, so a new snat
 * forward is not in it), or by the hub's when `askHub` (given the copy's text and the API's address:
 * the CLI's request) finds that copy behind; a peer set up with `porthole apply` by what it applied last.
 * Throws NothingToCheck saying what to run when neither is there, an Error when what is there does not
 * load.
 */
export async function peerContext(
  host: Host,
  stateDir: string,
  configDir: string,
  askHub?: (api: string) => Promise<HubSpecAnswer>,
): Promise<PeerContext> {
  const id = await readIdentity(host.files, stateDir);
  const local = id ? await readLocalSpec(host.files, configDir) : null;
  const rec = local ? null : await readApplied(host, stateDir);
  if (!local && rec?.role !== "peer")
    throw new NothingToCheck(
      `nothing of a peer is set up on this machine (no peer.json, no peer record in ${stateDir}/applied.json): run \`porthole join TOKEN\` or \`porthole apply --host NAME\``,
    );
  const r = local ? { ok: true as const, spec: local.spec } : loadSpec(rec?.specText ?? "", "applied.json");
  if (!r.ok) throw new Error(`the applied spec in ${stateDir}/applied.json does not load:\n${r.report}`);
  const name = id?.name ?? rec?.host;
  const me = r.spec.peers.find((p) => p.name === name);
  if (!me) throw new Error(`the spec has no peer named ${name}`);
  const scene = { host, spec: r.spec, me, api: id?.api ?? null, stateDir, now: Date.now };
  if (!local || !id || !askHub) return scene;
  // No tunnel: the request could only wait out its timeout (the spec check is not judged then anyway).
  if ((await host.stats.wgPeers(r.spec.hub.interface)) === null)
    return { ...scene, copy: { state: "unknown", why: `${r.spec.hub.interface} does not exist` } };
  return sceneWithHubSpec(scene, local.text, await askHub(id.api));
}

const result = (id: string, o: Outcome): CheckResult => ({
  id,
  status: o.status,
  found: o.found,
  ...(o.fix ? { fix: [o.fix] } : {}),
});

const check = (
  id: string,
  about: string,
  fn: (s: PeerScene) => Promise<Outcome | null>,
): Check<PeerContext> => ({
  id,
  about,
  run: async (s) => {
    const o = await fn(s);
    return o ? result(id, o) : [];
  },
});

/**
 * A check that looks through the tunnel (the hub's API, a target on the tunnel's address, its routes),
 * judged only while the tunnel's interface exists: without it each would fail for that one cause and
 * blame another (a connect to the tunnel address times out: "a firewall drops it"). Each of its rows
 * (`rows`: their ids, named from the spec without touching the network) is then unknown, "not checked
 * because wg0 does not exist", and nothing is sent: a connect, ping or API request through a missing
 * tunnel only waits out its timeout. The handshake line says how to bring it up.
 */
const throughTunnel = (c: Check<PeerContext>, rows: (s: PeerContext) => string[]): Check<PeerContext> => ({
  ...c,
  run: async (s) => {
    const iface = s.spec.hub.interface;
    if ((await s.host.stats.wgPeers(iface)) !== null) return c.run(s);
    return rows(s).map((id) => ({
      id,
      status: "unknown" as const,
      found: `not checked because ${iface} does not exist (see the handshake line)`,
    }));
  },
});

/** A check's one row, always there. */
const oneRow = (id: string) => () => [id];

/** The target check's rows: one per forward to this peer and protocol (as checkTargets names them). */
const targetRows = (s: PeerContext) =>
  s.spec.forwards
    .filter((f) => f.peer === s.me.name)
    .flatMap((f) => f.protos.map((proto) => `target ${f.name} ${proto}`));

export const PEER_CHECKS: Check<PeerContext>[] = [
  check("agent", "the peer's agent (porthole peer run) runs, on a joined peer", checkAgent),
  check("handshake", "the tunnel to the hub has a recent handshake", checkHandshake),
  throughTunnel(check("hub-api", "the hub's API answers through the tunnel", checkHubApi), oneRow("hub-api")),
  throughTunnel(
    check(
      "spec",
      "this peer has taken the hub's latest spec (its agent applies the hub's changes)",
      checkSpecCopy,
    ),
    (s) => (s.copy ? ["spec"] : []),
  ),
  check("hub-name", "the hub's name resolves to the address the tunnel uses", checkHubName),
  throughTunnel(
    {
      id: "target",
      about: "each forward's target port listens here, on an address the tunnel reaches",
      run: async (s) => (await checkTargets(s)).map((t) => result(`target ${t.name}`, t.outcome)),
    },
    targetRows,
  ),
  {
    id: "firewall",
    about:
      "this machine's firewall passes clients' packets to each forward's target (from the source they carry on the tunnel)",
    run: async (s) => (await checkFirewall(s)).map((t) => result(`firewall ${t.name}`, t.outcome)),
  },
  throughTunnel(
    check(
      "path-mtu",
      "full-size packets cross the tunnel (DF pings over the internet and through the tunnel)",
      checkPathMtu,
    ),
    oneRow("path-mtu"),
  ),
  throughTunnel(
    check("transparent", "transparent forwards' marks, rule, route and rp_filter", checkTransparent),
    (s) => (transparentChecked(s) ? ["transparent"] : []),
  ),
  throughTunnel(
    check(
      "snat-pool",
      "snat clients' pool addresses reach this peer and are answered through the tunnel",
      checkSnatPool,
    ),
    (s) => (snatPoolChecked(s) ? ["snat-pool"] : []),
  ),
  throughTunnel(check("clock", "this machine's clock agrees with the hub's", checkClock), oneRow("clock")),
];
