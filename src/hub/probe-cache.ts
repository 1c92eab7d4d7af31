// The forwards' targets as `porthole status` last probed them from the hub: a TCP connect to each of
// 10,000 targets on every status call cost seconds of CPU, so a status probes only what it has not
// probed lately, at most a few hundred targets, longest unchecked first, and waits for them a bounded
// time; the rest is reported with its age, or as not probed yet. `porthole doctor` probes everything.
import type { ConnectResult } from "../host/types.ts";

/** How long one probe waits for the target's answer (ms): a TCP connect through the tunnel. */
export const PROBE_TIMEOUT_MS = 1000;

/** A target's last probe: how its TCP connect ended, and when (ms, the cache's clock). */
export interface Probed extends ConnectResult {
  atMs: number;
}

/** How much one status call probes. */
export interface ProbeLimits {
  /** A result younger than this (ms) is used as it is; older ones are probed again. */
  freshMs: number;
  /** At most this many targets are probed per call (the longest unchecked first). */
  max: number;
  /** Probes running at once. */
  atOnce: number;
  /**
   * The call waits this long (ms) at most (Infinity: for every probe); a probe still running then
   * finishes for the next call.
   */
  budgetMs: number;
}

/**
 * What a status call probes: results of the last second are fresh; 256 targets a call (a forward each,
 * usually: every target of a hub with fewer forwards, and a full round of 10,000 in 40 calls); 64 at
 * once; the budget is one probe's timeout (1 s), so a hub with few targets waits as it always did.
 */
export const STATUS_PROBES: ProbeLimits = { freshMs: 1000, max: 256, atOnce: 64, budgetMs: PROBE_TIMEOUT_MS };

/** "10.8.0.2:8080": a target's key. */
export const targetKey = (addr: string, port: number) => `${addr}:${port}`;

/** Where a status takes the targets' probes from: a ProbeCache, or its last results alone (see `last`). */
export interface ProbeSource {
  check(targets: { addr: string; port: number }[]): Promise<Map<string, Probed>>;
}

export class ProbeCache implements ProbeSource {
  /** `probe`: a TCP connect (Host.probe.connect, PROBE_TIMEOUT_MS); `now`: ms. */
  constructor(
    private readonly probe: (addr: string, port: number) => Promise<ConnectResult>,
    private readonly now: () => number,
  ) {}

  private readonly results = new Map<string, Probed>();
  private readonly running = new Set<string>();

  /**
   * The last probe of each of `targets` ({addr, port}), by targetKey, probing nothing (what /metrics
   * reports: a scrape costs no connects); a target missing from the answer was never probed.
   */
  last(targets: { addr: string; port: number }[]): Map<string, Probed> {
    return new Map(
      targets.flatMap((t) => {
        const k = targetKey(t.addr, t.port);
        const p = this.results.get(k);
        return p ? [[k, p]] : [];
      }),
    );
  }

  /**
   * The last probe of each of `targets` ({addr, port}), by targetKey; a target missing from the answer
   * was never probed. Probes again, within `limits`, what is not fresh; forgets targets not asked for.
   */
  async check(
    targets: { addr: string; port: number }[],
    limits: ProbeLimits = STATUS_PROBES,
  ): Promise<Map<string, Probed>> {
    const wanted = new Map(targets.map((t) => [targetKey(t.addr, t.port), t]));
    for (const k of this.results.keys()) if (!wanted.has(k)) this.results.delete(k);
    const now = this.now();
    const age = (k: string) => now - (this.results.get(k)?.atMs ?? Number.NEGATIVE_INFINITY);
    const due = [...wanted.keys()]
      .filter((k) => !this.running.has(k) && age(k) >= limits.freshMs)
      .sort((a, b) => age(b) - age(a))
      .slice(0, limits.max);
    let next = 0;
    const worker = async () => {
      for (let k = due[next++]; k !== undefined; k = due[next++]) {
        const t = wanted.get(k) as { addr: string; port: number };
        this.running.add(k);
        try {
          const { outcome, error } = await this.probe(t.addr, t.port);
          this.results.set(k, { outcome, error, atMs: this.now() });
        } catch {
          // A probe that failed to run says nothing: the target keeps its last result.
        } finally {
          this.running.delete(k);
        }
      }
    };
    const all = Promise.all(Array.from({ length: Math.min(limits.atOnce, due.length) }, worker));
    let timer: NodeJS.Timeout | undefined;
    // No budget (Infinity: doctor's "everything, now") waits for every probe; a timer could not say it.
    if (Number.isFinite(limits.budgetMs))
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, limits.budgetMs)))]);
    else await all;
    clearTimeout(timer);
    return new Map(
      [...wanted.keys()].flatMap((k) => (this.results.has(k) ? [[k, this.results.get(k) as Probed]] : [])),
    );
  }
}
