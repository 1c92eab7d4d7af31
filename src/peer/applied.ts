// The peer's report of what it applied (POST /v1/applied): the hub says a forward works only when its
// peer applied the spec the hub serves it (hub/applied.ts). The agent keeps its last apply here and
// sends it when the hub's record (its whoami answer's `applied`) differs: after each apply, and again
// after the hub restarted (it then has nothing on record). Pure but for the send it is given.
import type { AppliedReport } from "../protocol/requests.ts";
import type { WhoamiReply } from "../protocol/responses.ts";

/** The longest error text a report carries (the hub refuses more). */
const ERROR_MAX = 2000;

export class ApplyReporter {
  private last: AppliedReport | null = null;

  /** `send`: POST /v1/applied; `log`: told when a send fails (once until one succeeds). */
  constructor(
    private readonly send: (r: AppliedReport) => Promise<unknown>,
    private readonly log: (l: string) => void,
  ) {}

  /**
   * An apply of the spec with hash `specHash` ended at `at` (ISO 8601): `error` is why it failed (the
   * host was put back as it was), null: it succeeded.
   */
  record(specHash: string, at: string, error: string | null): void {
    const lastApplied = error === null ? { specHash, at } : (this.last?.lastApplied ?? null);
    const text =
      error === null ? null : error.length > ERROR_MAX ? `${error.slice(0, ERROR_MAX - 1)}…` : error;
    this.last = { specHash, at, error: text, lastApplied };
  }

  /** Whether the last apply recorded was of `specHash` (whatever its end). */
  hasApplied(specHash: string): boolean {
    return this.last?.specHash === specHash;
  }

  /** The last apply recorded failed. */
  get failing(): boolean {
    return this.last !== null && this.last.error !== null;
  }

  private told = false;

  /**
   * Sends the report when the hub's record (`echo`, the whoami answer's `applied`) is not it. An echo
   * absent from the answer: a hub that takes no reports (older): nothing is sent. Never throws.
   */
  async sync(echo: WhoamiReply["applied"]): Promise<void> {
    const r = this.last;
    if (echo === undefined || !r) return;
    if (echo && echo.specHash === r.specHash && echo.error === r.error) return;
    try {
      await this.send(r);
      this.told = false;
    } catch (e) {
      if (!this.told) this.log(`reporting what this peer applied to the hub: ${(e as Error).message}`);
      this.told = true;
    }
  }
}
