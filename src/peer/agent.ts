// `porthole peer run`: keeps the tunnel healthy and the peer's side in step with the hub.
// - Every tick it asks the hub who it is: a tiny request whose packets also tell the hub where this
//   peer is now, so after the home address changes traffic flows again within one tick instead of
//   waiting for the next keepalive (up to 25 s). When the hub sends nothing back, the WireGuard
//   session is renewed at once (session.ts: a restarted hub has forgotten it).
// - Halfway between ticks it nudges the hub (nudge.ts): one datagram through the tunnel, so the hub
//   hears from this peer every half tick (1 s by default) and learns a new home address that soon.
// - When the hub's spec changed, it fetches it and applies this peer's part (transparent routing).
// - When the handshake goes stale and the hub's endpoint is a DNS name, it resolves it again
//   (WireGuard itself never does).
import { lookup } from "node:dns/promises";
import type { Host } from "../host/types.ts";
import { parseAddr } from "../net/ip.ts";
import { specHash } from "../protocol/spec-hash.ts";
import { apply, type Context } from "../reconcile/reconcile.ts";
import { loadSpec } from "../spec/load.ts";
import { HubUnreachable, peerClient } from "./client.ts";
import { type PeerIdentity, readIdentity, readLocalSpec, specFile } from "./local.ts";
import { nudger } from "./nudge.ts";
import { runProbeTask } from "./reachability.ts";
import { type HubSession, hubSession } from "./session.ts";
import { STALE_HANDSHAKE_S } from "./stale.ts";

export interface Agent {
  stop(): void;
  tick(): Promise<void>;
}

export async function runPeer(
  ctx: Context,
  configDir: string,
  id: PeerIdentity,
  opts: {
    intervalMs?: number;
    /** Nudge the hub halfway between ticks (default true). */
    nudge?: boolean;
    staleAfterS?: number;
    log: (l: string) => void;
    /** Called when this machine left its hub (`porthole down` removed peer.json): the agent has stopped. */
    onLeft?: () => void;
  },
): Promise<Agent> {
  const log = opts.log;
  const reconcile = async (why: string) => {
    const local = await readLocalSpec(ctx.host.files, configDir);
    if (!local) throw new Error(`no readable spec at ${specFile(configDir)}`);
    const r = await apply(
      { ...ctx, service: "daemon" },
      { spec: local.spec, specText: local.text, hostName: id.name },
    );
    if (r.changed) log(`${why}:\n${r.lines.map((l) => `  ${l}`).join("\n")}`);
  };
  await reconcile("applied");

  const session = hubSession(ctx.host, log);
  let busy = false;
  let ticks = 0;
  const tick = async () => {
    if (busy) return;
    busy = true;
    ticks++;
    try {
      // `porthole down` removes the identity first: stand down instead of re-creating what it removes.
      if (!(await readIdentity(ctx.host.files, ctx.stateDir))) {
        stop();
        log("this machine left its hub (peer.json is gone): the agent stands down");
        opts.onLeft?.();
        return;
      }
      const local = await readLocalSpec(ctx.host.files, configDir);
      const who = await session.ask(local?.spec.hub, () => peerClient(id.api).whoami(1500));
      // The hub asks for its public ports to be probed from here (doctor's "reachable from the
      // outside"); answered beside the tick, which must not wait for the connects.
      if (who.probe && local) {
        const task = who.probe;
        const { hub } = local.spec;
        runProbeTask(ctx.host, task, { interface: hub.interface, hubKey: hub.publicKey }, Date.now() / 1000)
          .then((report) => peerClient(id.api, { recover: false }).reportProbe(task.id, report))
          .then(
            () =>
              log(`probed the hub's public ports from here for its doctor (${task.targets.length} ports)`),
            (e: Error) => log(`reachability probe: ${e.message}`),
          );
      }
      if (who.specHash && (!local || specHash(local.text) !== who.specHash)) {
        const text = await peerClient(id.api).spec();
        if (loadSpec(text).ok) {
          await ctx.host.files.write(specFile(configDir), text);
          await reconcile("the hub's spec changed; applied this peer's part");
        }
      } else if (ticks % 15 === 0) {
        await reconcile("repaired drift");
      }
    } catch (e) {
      if (!(e instanceof HubUnreachable)) log(`agent: ${(e as Error).message}`);
      else
        await maybeReResolve(ctx.host, configDir, opts.staleAfterS ?? STALE_HANDSHAKE_S, log, session).catch(
          (x) => log(`re-resolve: ${(x as Error).message}`),
        );
      if (ticks % 15 === 0)
        await reconcile("repaired drift").catch((x) => log(`agent: ${(x as Error).message}`));
    } finally {
      busy = false;
    }
  };
  const intervalMs = opts.intervalMs ?? 2000;
  const nudge = opts.nudge === false ? null : nudger(ctx.host, id.api);
  let halfway: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    void tick();
    if (nudge) halfway = setTimeout(nudge, intervalMs / 2);
  }, intervalMs);
  const stop = () => {
    clearInterval(timer);
    clearTimeout(halfway);
  };
  return { stop, tick };
}

async function maybeReResolve(
  host: Host,
  configDir: string,
  staleAfterS: number,
  log: (l: string) => void,
  session: HubSession,
): Promise<void> {
  const local = await readLocalSpec(host.files, configDir);
  if (!local) return;
  const { hub } = local.spec;
  if (parseAddr(hub.endpoint.host.replace(/^\[|\]$/g, ""))) return; // an address: nothing to resolve
  const stats = (await host.stats.wgPeers(hub.interface))?.find((p) => p.publicKey === hub.publicKey);
  const latest = session.latestHandshake(stats?.latestHandshake ?? 0);
  const age = latest ? Date.now() / 1000 - latest : Number.POSITIVE_INFINITY;
  if (age < staleAfterS) return;
  const { address } = await lookup(hub.endpoint.host);
  const endpoint = address.includes(":")
    ? `[${address}]:${hub.endpoint.port}`
    : `${address}:${hub.endpoint.port}`;
  if (stats?.endpoint === endpoint) return;
  await host.wg.setEndpoint(hub.interface, hub.publicKey, endpoint);
  log(
    `handshake stale for ${Math.round(age)} s: ${hub.endpoint.host} now resolves to ${endpoint}; endpoint updated`,
  );
}
