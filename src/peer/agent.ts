// `porthole peer run`: keeps the tunnel healthy and the peer's side in step with the hub.
// - Every tick it asks the hub who it is: a tiny request whose packets also tell the hub where this
//   peer is now, so after the home address changes traffic flows again within one tick instead of
//   waiting for the next keepalive (up to 25 s). When the hub sends nothing back, the WireGuard
//   session is renewed at once (session.ts: a restarted hub has forgotten it).
// - Halfway between ticks it nudges the hub (nudge.ts): one datagram through the tunnel, so the hub
//   hears from this peer every half tick (1 s by default) and learns a new home address that soon.
// - When the hub's spec changed, it fetches it and applies this peer's part (transparent routing).
// - It tells the hub what it applied, and whether that worked (applied.ts): hub status says a forward
//   works only when its peer applied the spec the hub serves it. A failed apply is tried again every
//   RETRY_FAILED_TICKS; the agent keeps running (and reporting) when its first apply fails.
// - When the handshake goes stale and the hub's endpoint is a DNS name, it resolves it again
//   (WireGuard itself never does).
import { lookup } from "node:dns/promises";
import type { Host } from "../host/types.ts";
import { parseAddr } from "../net/ip.ts";
import type { WhoamiReply } from "../protocol/responses.ts";
import { specHash } from "../protocol/spec-hash.ts";
import { apply, type Context } from "../reconcile/reconcile.ts";
import { count } from "../spec/diagnostics.ts";
import { loadSpec } from "../spec/load.ts";
import { ApplyReporter } from "./applied.ts";
import { HubUnreachable, peerClient } from "./client.ts";
import { type PeerIdentity, readIdentity, readLocalSpec, specFile } from "./local.ts";
import { nudger } from "./nudge.ts";
import { runProbeTask } from "./reachability.ts";
import { type HubSession, hubSession } from "./session.ts";
import { STALE_HANDSHAKE_S } from "./stale.ts";

/** Ticks between repairs of drift (someone removed a route), and between retries of a failed apply. */
const REPAIR_TICKS = 15;
const RETRY_FAILED_TICKS = 5;

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
  const reporter = new ApplyReporter(
    (r) => peerClient(id.api, { recover: false, keepAlive: true }).reportApplied(r),
    log,
  );
  /** Applies the local spec; its end, success or error, is recorded for the hub. Throws what apply threw. */
  const reconcile = async (why: string) => {
    const local = await readLocalSpec(ctx.host.files, configDir);
    if (!local) throw new Error(`no readable spec at ${specFile(configDir)}`);
    const hash = specHash(local.text);
    try {
      const r = await apply(
        { ...ctx, service: "daemon" },
        { spec: local.spec, specText: local.text, hostName: id.name },
      );
      reporter.record(hash, new Date().toISOString(), null);
      if (r.changed) log(`${why}:\n${r.lines.map((l) => `  ${l}`).join("\n")}`);
    } catch (e) {
      reporter.record(hash, new Date().toISOString(), (e as Error).message);
      throw e;
    }
  };
  // A first apply that fails (a route in the way) is logged and reported; the agent runs on and retries.
  await reconcile("applied").catch((e: Error) =>
    log(`agent: applying this peer's part failed: ${e.message}`),
  );

  const session = hubSession(ctx.host, log);
  let busy = false;
  let ticks = 0;
  /** The hash of the hub's spec this version could not load (reported once, not every tick). */
  let unloadable: string | null = null;
  const tick = async () => {
    if (busy) return;
    busy = true;
    ticks++;
    let echo: WhoamiReply["applied"];
    try {
      // `porthole down` removes the identity first: stand down instead of re-creating what it removes.
      if (!(await readIdentity(ctx.host.files, ctx.stateDir))) {
        stop();
        log("this machine left its hub (peer.json is gone): the agent stands down");
        opts.onLeft?.();
        return;
      }
      const local = await readLocalSpec(ctx.host.files, configDir);
      const who = await session.ask(local?.spec.hub, () =>
        peerClient(id.api, { keepAlive: true }).whoami(1500),
      );
      echo = who.applied;
      // The hub asks for its public ports to be probed from here (doctor's "reachable from the
      // outside"); answered beside the tick, which must not wait for the connects.
      if (who.probe && local) {
        const task = who.probe;
        const { hub } = local.spec;
        runProbeTask(ctx.host, task, { interface: hub.interface, hubKey: hub.publicKey }, Date.now() / 1000)
          .then((report) =>
            peerClient(id.api, { recover: false, keepAlive: true }).reportProbe(task.id, report),
          )
          .then(
            () =>
              log(
                `probed the hub's public ports from here for its doctor (${count(task.targets.length, "port")})`,
              ),
            (e: Error) => log(`reachability probe: ${e.message}`),
          );
      }
      if (who.specHash && who.specHash === unloadable) {
        // Told the hub already (its record says failed, and why): fetched and logged again only when
        // the hub's spec changes. The spec applied before stays applied, and its record is not
        // overwritten by a repair.
      } else if (who.specHash && (!local || specHash(local.text) !== who.specHash)) {
        const text = await peerClient(id.api, { keepAlive: true }).spec();
        const loaded = loadSpec(text);
        if (loaded.ok) {
          await ctx.host.files.write(specFile(configDir), text);
          await reconcile("the hub's spec changed; applied this peer's part");
        } else {
          // A spec this version cannot read (a newer hub's field): the hub hears why it was not applied.
          const why = `the hub's spec does not load here (is porthole on this peer older than the hub's?): ${loaded.report}`;
          reporter.record(specHash(text), new Date().toISOString(), why);
          unloadable = who.specHash;
          log(`agent: ${why}`);
        }
      } else if (local && !reporter.hasApplied(specHash(local.text))) {
        const hash = specHash(local.text);
        // Written and applied by `porthole expose` here, which told the hub so: taken as this agent's
        // record, not applied again (a second apply right after the command's raced what came next).
        // Otherwise (not applied by this agent yet, or the command's apply failed): applied here.
        if (who.applied?.specHash === hash && who.applied.error === null)
          reporter.record(hash, new Date().toISOString(), null);
        else await reconcile("applied this peer's spec");
      } else if (ticks % REPAIR_TICKS === 0 || (reporter.failing && ticks % RETRY_FAILED_TICKS === 0)) {
        await reconcile(
          reporter.failing ? "applied this peer's part, which failed before" : "repaired drift",
        );
      }
    } catch (e) {
      if (!(e instanceof HubUnreachable)) log(`agent: ${(e as Error).message}`);
      else
        await maybeReResolve(ctx.host, configDir, opts.staleAfterS ?? STALE_HANDSHAKE_S, log, session).catch(
          (x) => log(`re-resolve: ${(x as Error).message}`),
        );
      if (ticks % REPAIR_TICKS === 0)
        await reconcile("repaired drift").catch((x) => log(`agent: ${(x as Error).message}`));
    } finally {
      // What the hub has on record of this peer's applies, brought up to date (this tick's included).
      await reporter.sync(echo);
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
