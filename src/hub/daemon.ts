// `porthole hub run`: reconcile at start, serve the API on the tunnel address and a root-only unix
// socket, and keep watch — repair drift (someone flushed the table, removed the interface), expire
// join tokens, and tell a webhook when peers come and go or an apply fails.
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import type { WgDumpPeer } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import type { Context } from "../reconcile/reconcile.ts";
import { count } from "../spec/diagnostics.ts";
import { API_SERVER_OPTIONS, hubApi } from "./api.ts";
import { AppliedLog } from "./applied.ts";
import { renderMetrics, specValidMetric } from "./metrics.ts";
import { HubService } from "./service.ts";
import { socketPath } from "./socket-path.ts";
import type { SpecStore } from "./store.ts";
import { postWebhook } from "./webhook.ts";

export interface Daemon {
  service: HubService;
  stop(): Promise<void>;
}

export async function runHub(
  ctx: Context,
  store: SpecStore,
  opts: { intervalMs?: number; log: (l: string) => void },
): Promise<Daemon> {
  const log = opts.log;
  const service = new HubService({ ...ctx, service: "daemon", log: (l) => log(`  ${l}`) }, store);
  // The daemon is the API the agents report their applies to (status judges their forwards by them).
  service.applied = new AppliedLog(service.now());
  service.onPeerApply = log;
  const webhook = async (event: string, detail: Record<string, unknown>) => {
    // Called without waiting (`void webhook(...)`): nothing here may reject, a runtime file read included.
    const url = await service.runtime.load().then(
      (rt) => rt.webhook,
      (e: Error) => log(`webhook: the hub's runtime file cannot be read: ${e.message}`),
    );
    if (!url) return;
    const problem = await postWebhook(url, { event, time: new Date().toISOString(), ...detail });
    if (problem) log(`webhook ${url}: ${event} not delivered: ${problem}`);
  };
  service.onApplyFailed = (message) => void webhook("apply_failed", { message });

  // Other owners' drops are logged when they change, not on every tick.
  let warned = "";
  const tellWarnings = (warnings: string[]) => {
    const now = warnings.join("\n");
    if (now === warned) return;
    log(now || "firewall: nothing on the hub drops porthole's traffic any more");
    warned = now;
  };
  const { spec, problem } = await store.live();
  if (problem) {
    log(
      `${store.file} cannot be used (an error in it, or it is missing): running on the last valid spec, applying nothing until it is fixed:\n${problem}`,
    );
  } else {
    log("reconciling the host to the spec");
    const first = await service.reconcile(true);
    log(first.changed ? `applied ${count(first.lines.length, "change")}` : "host already matches the spec");
    tellWarnings(first.warnings);
  }

  const servers: Server[] = [];
  const sock = socketPath(ctx.stateDir);
  await ctx.host.files.remove(sock);
  const unix = createAdaptorServer({ fetch: hubApi(service, "unix").fetch }) as Server;
  await new Promise<void>((res, rej) => unix.once("error", rej).listen(sock, res));
  await ctx.host.files.setMode(sock, 0o600);
  servers.push(unix);
  const address = formatAddr(spec.hub.address);
  const tcp = createAdaptorServer({
    fetch: hubApi(service, "tcp").fetch,
    serverOptions: API_SERVER_OPTIONS,
  }) as Server;
  try {
    await new Promise<void>((res, rej) => tcp.once("error", rej).listen(spec.hub.apiPort, address, res));
  } catch (e) {
    // Close what is open, or the process would hang on the unix socket after e.g. EADDRINUSE.
    await new Promise((r) => unix.close(r));
    await ctx.host.files.remove(sock);
    throw new Error(`the API cannot listen on ${address}:${spec.hub.apiPort}: ${(e as Error).message}`);
  }
  servers.push(tcp);
  log(`API on http://${address}:${spec.hub.apiPort} (tunnel only) and ${sock} (root)`);
  const metrics = spec.hub.metricsListen ? await serveMetrics(service, spec.hub.metricsListen, log) : null;
  if (metrics) servers.push(metrics);

  const tick = await watchLoop(service, log, webhook, problem, tellWarnings);
  const timer = setInterval(tick, opts.intervalMs ?? 2000);
  return {
    service,
    stop: async () => {
      clearInterval(timer);
      // close() alone waits for keep-alive connections (a peer agent polling keeps one busy), and
      // Node 18 does not end idle ones by itself: a stop under systemd then hung until SIGKILL.
      await Promise.all(
        servers.map(
          (s) =>
            new Promise((r) => {
              s.close(r);
              s.closeAllConnections();
            }),
        ),
      );
      await ctx.host.files.remove(sock);
    },
  };
}

/**
 * One round of the daemon's watch: prune tokens, repair drift, keep the forwards' counters from growing
 * old (HubService.recount: in the background, at a bounded pace), announce peers coming and going. A spec
 * file with errors is reported once per change (not every round) and nothing is applied meanwhile.
 */
export async function watchLoop(
  service: HubService,
  log: (l: string) => void,
  webhook: (event: string, detail: Record<string, unknown>) => Promise<void>,
  startProblem: string | null = null,
  /** Told each round's findings about other owners' firewalls (it logs them when they change). */
  tellWarnings: (warnings: string[]) => void = () => {},
): Promise<() => Promise<void>> {
  // Peers known at start keep their state silently; a peer that appears later starts "offline",
  // so its first handshake is announced as peer_online.
  const online = new Map((await service.peers()).map((p) => [p.name, p.online ?? false]));
  let reported = startProblem;
  let busy = false;
  /** The webhook events still being sent, in order (webhook() never rejects). */
  let sending: Promise<void> = Promise.resolve();
  return async () => {
    if (busy) return;
    busy = true;
    try {
      const problem = await service.specProblem();
      if (problem !== reported) {
        log(
          problem
            ? `${service.store.file} cannot be used (an error in it, or it is missing): running on the last valid spec, applying nothing until it is fixed:\n${problem}`
            : `${service.store.file} is valid again`,
        );
        reported = problem;
      }
      /** The interface's peers as this round's reconcile read them (undefined: read them again). */
      let seen: WgDumpPeer[] | undefined;
      if (problem === null) {
        await service.pruneTokens();
        const was = service.appliedText;
        const r = await service.reconcile();
        // The file changed since this process applied it (an edit, not through the API): its changes
        // applied, which is not the kernel drifting from the spec.
        const edited = was !== null && service.appliedText !== was;
        const what = edited
          ? `applied ${service.store.file}, changed since the last apply`
          : "repaired drift";
        if (r.changed) log(`${what}:\n${r.lines.map((l) => `  ${l}`).join("\n")}`);
        tellWarnings(r.warnings);
        // Nothing changed: what it observed is the host now, so the peers' handshakes are read once a round.
        if (!r.changed && r.observed.exists) seen = r.observed.live;
      }
      await service.recount();
      for (const p of await service.peers(seen)) {
        // Not known (the interface is down: handshakes unreadable): nothing to announce, the last known stays.
        if (p.online === null) continue;
        const was = online.get(p.name) ?? false;
        online.set(p.name, p.online);
        if (was !== p.online) {
          log(`peer ${p.name} is ${p.online ? "online" : "offline"}`);
          // Queued, not awaited: a receiver that does not answer (5 s each) must not hold up the next
          // round's repair; the queue keeps the events in their order.
          const detail = { peer: p.name, endpoint: p.endpoint };
          sending = sending.then(() => webhook(p.online ? "peer_online" : "peer_offline", detail));
        }
      }
    } catch (e) {
      log(`watch: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
}

/**
 * /metrics, and nothing else, for a Prometheus on the hub itself (the API answers only peers through
 * the tunnel). Whoever can connect reads every peer's and forward's numbers: loopback by default.
 * A listener that cannot start is logged; the daemon runs on without it.
 */
async function serveMetrics(
  service: HubService,
  at: { host: string; port: number },
  log: (l: string) => void,
): Promise<Server | null> {
  const app = new Hono();
  // The same text as the API's /metrics for root.
  app.get("/metrics", async (c) =>
    c.text(
      renderMetrics(await service.statusFor({ kind: "root" }, false), service.stats) +
        specValidMetric((await service.specProblem()) === null),
      200,
      { "content-type": "text/plain; version=0.0.4" },
    ),
  );
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const url = `http://${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}/metrics`;
  try {
    await new Promise<void>((res, rej) => server.once("error", rej).listen(at.port, at.host, res));
  } catch (e) {
    log(`metrics: cannot listen on ${url}: ${(e as Error).message} (hub.metricsListen)`);
    return null;
  }
  log(`metrics on ${url} (hub.metricsListen)`);
  return server;
}
