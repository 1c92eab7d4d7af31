// A per-source bound on requests in flight: one peer (a bug, or a peer that means harm) cannot occupy
// the hub's API, whose changes run one at a time anyway.

export class ConcurrencyLimiter {
  private inFlight = new Map<string, number>();

  /** `perSource`: requests one source may have in flight at once. */
  constructor(readonly perSource: number) {}

  /** Takes a slot for `source`; false when it has `perSource` in flight already. */
  acquire(source: string): boolean {
    const n = this.inFlight.get(source) ?? 0;
    if (n >= this.perSource) return false;
    this.inFlight.set(source, n + 1);
    return true;
  }

  release(source: string): void {
    const n = (this.inFlight.get(source) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(source);
    else this.inFlight.set(source, n);
  }
}
