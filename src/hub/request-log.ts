// Changes asked for with a request id (header `x-request-id`) happen once: the same id again gets the
// first answer (waiting for it while the change runs), and `GET /v1/requests/ID` says what became of
// a request whose answer the caller lost. Kept in memory, per caller, for a while.

export interface Outcome {
  status: number;
  body: string;
}

/** How long an outcome is kept (a client that lost its answer asks within seconds). */
export const KEEP_MS = 10 * 60_000;
/** At most this many outcomes are kept; the oldest go first. */
export const KEEP_MAX = 2000;

export const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

export class RequestLog {
  private entries = new Map<string, { at: number; outcome?: Outcome; pending: Promise<Outcome> }>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Runs `fn` for a new id; for a known one returns the first run's outcome (waiting if it still
   * runs). `key` must include the caller's identity, so one caller cannot read another's answers.
   */
  async once(key: string, fn: () => Promise<Outcome>): Promise<{ outcome: Outcome; replayed: boolean }> {
    this.prune();
    const known = this.entries.get(key);
    if (known) return { outcome: known.outcome ?? (await known.pending), replayed: true };
    const entry: { at: number; outcome?: Outcome; pending: Promise<Outcome> } = {
      at: this.now(),
      pending: fn(),
    };
    this.entries.set(key, entry);
    try {
      entry.outcome = await entry.pending;
    } catch (e) {
      this.entries.delete(key); // not answered at all: the same id may try again
      throw e;
    }
    return { outcome: entry.outcome, replayed: false };
  }

  /** What became of a request: done (with its answer), running, or unknown (never arrived, or forgotten). */
  state(key: string): { state: "done"; status: number; body: unknown } | { state: "running" | "unknown" } {
    const e = this.entries.get(key);
    if (!e) return { state: "unknown" };
    if (!e.outcome) return { state: "running" };
    let body: unknown = e.outcome.body;
    try {
      body = JSON.parse(e.outcome.body);
    } catch {
      // plain text
    }
    return { state: "done", status: e.outcome.status, body };
  }

  private prune(): void {
    const old = this.now() - KEEP_MS;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= KEEP_MAX && e.at > old) break; // insertion order: oldest first
      if (e.outcome) this.entries.delete(k);
    }
  }
}
