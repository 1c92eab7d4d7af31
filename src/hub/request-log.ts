// Changes asked for with a request id (header `x-request-id`) happen once: the same id again gets the
// first answer (waiting for it while the change runs), and `GET /v1/requests/ID` says what became of
// a request whose answer the caller lost. Kept per caller, for a while: in memory, and the outcomes
// of peers' requests also in a file (`keep`), so a daemon restarted between a change and its lost
// answer still knows what became of it. Root's (the CLI on the hub) are not written: a device's
// config, private key included, is such an answer.

export interface Outcome {
  status: number;
  body: string;
}

/** How long an outcome is kept (a client that lost its answer asks within seconds). */
export const KEEP_MS = 10 * 60_000;
/** At most this many outcomes are kept; the oldest go first. */
export const KEEP_MAX = 2000;

export const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** Where outcomes are kept across restarts (the hub's state file, through the Host). */
export interface OutcomeFile {
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

type Entry = { at: number; outcome?: Outcome; pending: Promise<Outcome>; kept: boolean };

export class RequestLog {
  private entries = new Map<string, Entry>();
  private loaded: Promise<void> | null = null;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly file?: OutcomeFile,
  ) {}

  /** The kept outcomes, read once (younger than KEEP_MS); an unreadable file is no outcomes. */
  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const text = await this.file?.read().catch(() => null);
      if (!text) return;
      try {
        const old = this.now() - KEEP_MS;
        for (const [key, at, status, body] of JSON.parse(text) as [string, number, number, string][]) {
          if (at > old && !this.entries.has(key)) {
            const outcome = { status, body };
            this.entries.set(key, { at, outcome, pending: Promise.resolve(outcome), kept: true });
          }
        }
      } catch {
        // damaged: start empty (the file is rewritten with the next outcome)
      }
    })();
    return this.loaded;
  }

  /** Writes the kept outcomes, one write at a time; a failed write is not the caller's failure. */
  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.saving = this.saving.then(async () => {
      const rows = [...this.entries]
        .filter(([, e]) => e.kept && e.outcome)
        .map(([k, e]) => [k, e.at, e.outcome?.status, e.outcome?.body]);
      await file.write(JSON.stringify(rows)).catch(() => {});
    });
    return this.saving;
  }

  /**
   * Runs `fn` for a new id; for a known one returns the first run's outcome (waiting if it still
   * runs). `key` must include the caller's identity, so one caller cannot read another's answers.
   */
  async once(
    key: string,
    fn: () => Promise<Outcome>,
    /** Also write the outcome to the file (false for answers that hold secrets). */
    keep = true,
  ): Promise<{ outcome: Outcome; replayed: boolean }> {
    await this.load();
    this.prune();
    const known = this.entries.get(key);
    if (known) return { outcome: known.outcome ?? (await known.pending), replayed: true };
    const entry: Entry = { at: this.now(), pending: fn(), kept: keep && !!this.file };
    this.entries.set(key, entry);
    try {
      entry.outcome = await entry.pending;
    } catch (e) {
      this.entries.delete(key); // not answered at all: the same id may try again
      throw e;
    }
    if (entry.kept) await this.save();
    return { outcome: entry.outcome, replayed: false };
  }

  /** What became of a request: done (with its answer), running, or unknown (never arrived, or forgotten). */
  async state(
    key: string,
  ): Promise<{ state: "done"; status: number; body: unknown } | { state: "running" | "unknown" }> {
    await this.load();
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
