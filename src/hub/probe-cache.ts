// The forwards' targets as `porthole status` last probed them from the hub: a TCP connect to each of
// 10,000 targets on every status call cost seconds of CPU, so a status probes only what it has not
// probed lately, at most a few hundred targets, longest unchecked first, and waits for them a bounded
// time; the rest is reported with its age, or as not probed yet. `porthole doctor` probes everything.
import type { ConnectResult } from "../host/types.ts";
import { LISTED_FORWARDS_UP_TO } from "../protocol/status-summary.ts";

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
 * What a status call probes: results of the last second are fresh; LISTED_FORWARDS_UP_TO (100) targets a
 * call (a forward each, usually: every target of a hub whose status lists each forward, and a full
 * round of 10,000 in 100 calls; 256 a call cost a status ~70 ms of the daemon's CPU at 10,000
 * forwards, 100 ~20 ms: bench/README.md "status"); 64 at once; the budget is one probe's timeout
 * (1 s), so a hub with few targets waits as it always did.
 */
export const STATUS_PROBES: ProbeLimits = {
  freshMs: 1000,
  max: LISTED_FORWARDS_UP_TO,
  atOnce: 64,
  budgetMs: PROBE_TIMEOUT_MS,
};

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

  /** Forgets every result for targets at these addresses (another machine holds the address now). */
  forget(addresses: string[]): void {
    const gone = new Set(addresses);
    for (const k of this.results.keys()) if (gone.has(k.slice(0, k.lastIndexOf(":")))) this.results.delete(k);
  }

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
    const wanted = this.keyed(targets);
    for (const k of this.results.keys()) if (!wanted.has(k)) this.results.delete(k);
    const now = this.now();
    // Never probed first (in the order asked), then the oldest results: `results` holds them in the
    // order they were probed (each new result goes to its end), so no sort of 10,000 targets a call.
    const due: string[] = [];
    for (const k of wanted.keys()) {
      if (due.length >= limits.max) break;
      if (!this.results.has(k) && !this.running.has(k)) due.push(k);
    }
    for (const [k, p] of this.results) {
      if (due.length >= limits.max || now - p.atMs < limits.freshMs) break;
      if (!this.running.has(k)) due.push(k);
    }
    let next = 0;
    const worker = async () => {
      for (let k = due[next++]; k !== undefined; k = due[next++]) {
        const t = wanted.get(k) as { addr: string; port: number };
        this.running.add(k);
        try {
          const { outcome, error } = await this.probe(t.addr, t.port);
          this.results.delete(k);
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
    const out = new Map<string, Probed>();
    for (const [k, p] of this.results) if (wanted.has(k)) out.set(k, p);
    return out;
  }

  /** `targets` by targetKey, once per list (a status passes the same list every time: see hub/status.ts). */
  private keyed(targets: { addr: string; port: number }[]): Map<string, { addr: string; port: number }> {
    let m = this.lists.get(targets);
    if (!m) {
      m = new Map(targets.map((t) => [targetKey(t.addr, t.port), t]));
      this.lists.set(targets, m);
    }
    return m;
  }

  private readonly lists = new WeakMap<object, Map<string, { addr: string; port: number }>>();
}
