// The forwards' counters as the hub last counted them. Counting reads nft's counted sets and conntrack's
// open connections: at 10,000 forwards and 100,000 tracked connections that is ~0.75 s of CPU, most of
// it the kernel walking its tables, so a status does not wait for it: it answers with the last count
// and says when that was (HubStatus.countedAt), and starts the next count for the statuses after it.
// A count that takes no longer than a status may wait (small hubs) is waited for: their numbers are
// current. With nobody asking, the daemon's watch recounts at a pace bounded by what a count costs.

/** One count: its numbers, the spec they belong to, when it started and how long it took (ms). */
export interface Counted<T> {
  value: T;
  /** The spec's hash: a count of another spec's forwards is not this spec's. */
  key: string;
  /** When the count started (the census clock, ms): the numbers are at least this old. */
  atMs: number;
  /** Its wall time (ms). */
  tookMs: number;
}

/** When the census counts again. */
export interface CensusPace {
  /** A status waits this long (ms) at most for a count it starts; not at all if the last took longer. */
  waitMs: number;
  /**
   * A status starts a count when the last is older than max(freshMs, askedFactor × its duration):
   * however many ask, counting takes at most 1/askedFactor of the time.
   */
  freshMs: number;
  askedFactor: number;
  /**
   * Nobody asking: the watch (`idle`) recounts when the last is older than max(idleMs, idleFactor ×
   * its duration), so a count of 0.75 s runs every ~38 s (~2 % of the time).
   */
  idleMs: number;
  idleFactor: number;
}

export const CENSUS_PACE: CensusPace = {
  // A status's own work at 10,000 forwards is ~50 ms: waiting 200 ms for a count of 150-200 ms (10,000
  // forwards, a small table) made it four times that; a hub of a few hundred forwards counts in ~30 ms.
  waitMs: 100,
  freshMs: 1000,
  // A count at 100,000 tracked connections is ~0.4 s of CPU (conntrack's walk of the table, nft's
  // listings): at 4 a status every second kept a core ~25 % busy counting, and every status shared
  // the machine with one; at 10, ≤ 10 %, the numbers then up to ~10 × a count's time old (said).
  askedFactor: 10,
  idleMs: 10_000,
  idleFactor: 50,
};

export class Census<T> {
  /** `now`: the clock of `atMs` (ms). */
  constructor(
    private readonly now: () => number,
    private readonly pace: CensusPace = CENSUS_PACE,
  ) {}

  private last?: Counted<T>;
  private running?: { key: string; done: Promise<Counted<T>> };

  /**
   * The numbers for a status of the spec `key`: the last count when it is recent (see CensusPace), else a
   * new count (`count`) waited for up to `waitMs` — or not at all when the last count took longer, or
   * fully when there is no count of this spec yet. Rejects only when that full wait's count fails.
   */
  async read(key: string, count: () => Promise<T>): Promise<Counted<T>> {
    const last = this.last?.key === key ? this.last : undefined;
    if (!last) return this.start(key, count);
    const age = this.now() - last.atMs;
    if (age < Math.max(this.pace.freshMs, this.pace.askedFactor * last.tookMs)) return last;
    const fresh = this.start(key, count).catch(() => last);
    if (last.tookMs > this.pace.waitMs) return last;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<Counted<T>>((r) => {
      timer = setTimeout(() => r(last), this.pace.waitMs);
    });
    return Promise.race([fresh, waited]).finally(() => clearTimeout(timer));
  }

  /**
   * Counts in the background when the last count is older than the idle pace (or of another spec, or
   * missing, and not counted within the idle pace either): the daemon's watch calls it every round.
   */
  idle(key: string, count: () => Promise<T>): void {
    if (this.running) return;
    const last = this.last;
    if (last && this.now() - last.atMs < Math.max(this.pace.idleMs, this.pace.idleFactor * last.tookMs))
      return;
    this.start(key, count).catch(() => {});
  }

  /** The count under way for `key`, or a new one; its result becomes the last count. */
  private start(key: string, count: () => Promise<T>): Promise<Counted<T>> {
    if (this.running?.key === key) return this.running.done;
    const atMs = this.now();
    const done = count().then((value) => {
      const c = { value, key, atMs, tookMs: Math.max(0, this.now() - atMs) };
      if (!this.last || this.last.atMs <= atMs) this.last = c;
      return c;
    });
    const running = { key, done };
    this.running = running;
    const clear = () => {
      if (this.running === running) this.running = undefined;
    };
    done.then(clear, clear);
    return done;
  }
}
