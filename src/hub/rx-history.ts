// When the hub last saw each peer's received bytes (`wg show dump`'s rx) grow: a tunnel that broke
// keeps its last handshake "online" for up to 180 s, but its rx stops growing at once (a peer
// sends at least once per keepalive, 25 s by default). Fed by every peer status (the daemon asks
// every 2 s). Pure.

/** A peer never seen receiving is reported once the hub has watched it this long (ms). */
export const WATCHED_ENOUGH_MS = 30_000;

interface Seen {
  rxBytes: number;
  /** Hub clock (ms) of the first observation (since the last counter reset). */
  firstMs: number;
  /** Hub clock (ms) of the observation that saw rx grow; null: not seen growing yet. */
  grewMs: number | null;
}

/** Per peer public key: the last rx bytes seen, when they last grew, when the peer was first seen. */
export class RxHistory {
  private readonly seen = new Map<string, Seen>();

  /**
   * Records `rxBytes` of the peer `publicKey` at `nowMs` (the hub's clock, ms) and returns the seconds
   * since the hub last saw its rx grow (whole seconds, ≥ 0). Not seen growing yet: the seconds since
   * the first observation once that is ≥ 30 s (nothing received for at least that long), else null
   * (unknown). A first observation, or a counter that went down (the interface or the peer was
   * re-created), starts over: null. Nothing received yet (`rxBytes` 0): null, as there is no "since"
   * (the time watched would read as when it last sent: status says "never" from rxBytes).
   */
  observe(publicKey: string, rxBytes: number, nowMs: number): number | null {
    const had = this.seen.get(publicKey);
    if (rxBytes === 0) {
      this.seen.set(publicKey, { rxBytes, firstMs: nowMs, grewMs: null });
      return null;
    }
    if (!had || rxBytes < had.rxBytes) {
      this.seen.set(publicKey, { rxBytes, firstMs: nowMs, grewMs: null });
      return null;
    }
    if (rxBytes > had.rxBytes) {
      had.rxBytes = rxBytes;
      had.grewMs = nowMs;
    }
    const since = had.grewMs ?? (nowMs - had.firstMs >= WATCHED_ENOUGH_MS ? had.firstMs : null);
    return since === null ? null : Math.max(0, Math.floor((nowMs - since) / 1000));
  }

  /** Forgets the peers not in `publicKeys` (removed from the spec, or gone from the interface). */
  keepOnly(publicKeys: Iterable<string>): void {
    const keep = new Set(publicKeys);
    for (const k of this.seen.keys()) if (!keep.has(k)) this.seen.delete(k);
  }
}
