// The hub's shared context: the spec store, the runtime state, the change queue, and the one path every
// change takes (spec store -> validate -> write -> reconcile, one at a time). The domain files
// (hub/peers.ts, hub/forwards.ts, hub/enrollment.ts) work on it; hub/service.ts is the hub's face.

import { join } from "node:path";
import type { Listener } from "../host/types.ts";
import { addrAt, formatAddr, hostRange, parseAddr } from "../net/ip.ts";
import type { Target } from "../plan/plan.ts";
import { specHash } from "../protocol/spec-hash.ts";
import { type ApplyResult, apply, type Context } from "../reconcile/reconcile.ts";
import { readApplied } from "../reconcile/state.ts";
import type { Diagnostic } from "../spec/diagnostics.ts";
import type { Spec } from "../spec/types.ts";
import type { AppliedLog } from "./applied.ts";
import { Conflict, Forbidden, Invalid } from "./errors.ts";
import { APPLY_BUCKETS, Histogram } from "./metrics.ts";
import { RequestLog } from "./request-log.ts";
import { activeEnrolling, RuntimeStore } from "./runtime.ts";
import { RxHistory } from "./rx-history.ts";
import type { SpecEdit } from "./spec-edit.ts";
import { peerSpecParts, peerSpecView, type SpecParts, specData } from "./spec-view.ts";
import { SpecRejected, type SpecStore } from "./store.ts";

export type Identity =
  | { kind: "root" }
  /** `publicKey`: what the hub's records of a peer follow (a peer added again by hand under its name, with a new key, is a new peer). */
  | { kind: "peer"; name: string; admin: boolean; publicKey: string }
  | { kind: "enrolling"; tokenId: string }
  | { kind: "stranger"; address: string };

export interface ApplyStats {
  total: number;
  failures: number;
  lastDurationSeconds: number;
  /** Every reconcile's duration, in seconds. */
  durations: Histogram;
  lastError?: string;
}

export const isAdmin = (who: Identity) => who.kind === "root" || (who.kind === "peer" && who.admin);

/** The state and the change path the domain files share (public for them; callers use HubService). */
export class HubContext {
  readonly runtime: RuntimeStore;
  /** Outcomes of changes by request id (shared by the API's unix and TCP listeners), kept across restarts. */
  readonly requests: RequestLog;
  readonly stats: ApplyStats = {
    total: 0,
    failures: 0,
    lastDurationSeconds: 0,
    durations: new Histogram(APPLY_BUCKETS),
  };
  /**
   * What the agent peers reported of their applies: set by the daemon, the API they report to. null:
   * this process takes no reports (the in-process API of a hub without its daemon, where no agent can
   * reach it): every peer is then judged by the hub's probe alone, as before, and says nothing of it.
   * Kept by public key: a removed peer's records go when the spec without its key is applied
   * (reconcileNow), not on a read, also when a peer of the same name (a new machine) replaces it.
   */
  applied: AppliedLog | null = null;
  /** Each peer's tunnel addresses and its key, as last applied: a target at an address whose key changed is another machine. */
  private keyAt = new Map<string, string>();
  /** When each peer's received bytes last grew, fed by every peer status (the daemon's every 2 s). */
  readonly rx = new RxHistory();
  private queue: Promise<unknown> = Promise.resolve();
  onApplyFailed?: (message: string) => void;

  constructor(
    readonly ctx: Context,
    readonly store: SpecStore,
    readonly now: () => number = Date.now,
  ) {
    this.runtime = new RuntimeStore(ctx.host.files, ctx.stateDir);
    const file = join(ctx.stateDir, "requests.json");
    this.requests = new RequestLog(now, {
      read: () => ctx.host.files.read(file),
      write: (text) => ctx.host.files.write(file, text, 0o600),
    });
  }

  /**
   * Forgets what the hub kept of peers no longer in the applied spec, by key: a peer removed and added
   * again under its name (a new key) starts with no reports, and the targets at an address that another
   * key holds now with no probe results (forgetTargets).
   */
  private forgetReplaced(spec: Spec): void {
    this.applied?.keepOnly(new Set(spec.peers.map((p) => p.publicKey)));
    const keyAt = new Map(
      spec.peers.flatMap((p) =>
        [p.address, p.address6].flatMap((a) => (a ? [[formatAddr(a), p.publicKey] as const] : [])),
      ),
    );
    const moved = [...this.keyAt].filter(([a, k]) => keyAt.get(a) !== k).map(([a]) => a);
    this.keyAt = keyAt;
    if (moved.length) this.forgetTargets(moved);
  }

  /** Drops what is kept of the targets at these tunnel addresses (HubService: its probe results). */
  protected forgetTargets(_addresses: string[]): void {}

  /** Runs changes one after another, in the order they were asked for. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** The spec the hub runs on: the file, or while it has errors the last valid one (see SpecStore.live). */
  live() {
    return this.store.live(
      async () => (await readApplied(this.ctx.host, this.ctx.stateDir))?.specText ?? null,
    );
  }

  /** What is wrong with the spec file now (null: nothing); the hub runs on its last valid spec meanwhile. */
  async specProblem(): Promise<string | null> {
    return (await this.live()).problem;
  }

  /**
   * Applies the spec now; callers are inside `serial` already. `listeners`: the hub's listening sockets
   * as a change just read them (apply need not look again); `countRules`: see ApplyRequest.
   */
  async reconcileNow(listeners?: Listener[], countRules = false): Promise<ApplyResult> {
    // An invalid spec is not a failed apply: nothing is tried, the host stays as applied last.
    const { spec, text } = await this.store.load();
    const started = this.now();
    this.stats.total++;
    try {
      const enrolling = activeEnrolling(await this.runtime.load(), this.now());
      const r = await apply(this.ctx, {
        spec,
        specText: text,
        hostName: spec.hub.name,
        enrolling,
        listeners,
        countRules,
      });
      this.stats.lastError = undefined;
      this.forgetReplaced(spec);
      this.enforced = spec;
      this.planned = { text, targets: r.plan.targets };
      this.appliedText = text;
      return r;
    } catch (e) {
      this.stats.failures++;
      this.stats.lastError = (e as Error).message;
      this.onApplyFailed?.((e as Error).message);
      throw e;
    } finally {
      this.stats.lastDurationSeconds = (this.now() - started) / 1000;
      this.stats.durations.observe(this.stats.lastDurationSeconds);
    }
  }

  /**
   * Writes the edited spec and applies it. A refused edit is an Invalid naming the field; for a peer
   * that is not an admin, only the problems of its own new item, with other peers' forwards unnamed.
   */
  async change(edits: SpecEdit[], who: Identity = { kind: "root" }, listeners?: Listener[]): Promise<Spec> {
    // A spec file broken by hand: the edit would be refused for problems that are not the caller's.
    const { problem } = await this.live();
    if (problem)
      throw new Conflict(
        isAdmin(who)
          ? `the hub's spec file cannot be used (an error in it, or it is missing), so no change is possible until it is fixed:\n${problem}`
          : "the hub's spec file cannot be used (an error in it, or it is missing), so no change is possible until it is fixed (on the hub: `porthole validate`)",
      );
    const before = isAdmin(who) ? undefined : (await this.store.load()).spec;
    try {
      const { spec, text, previous } = await this.store.update(edits);
      try {
        await this.applyChange(listeners);
      } catch (e) {
        // The apply put the host back as it was; the spec goes back too, or the change would stay in
        // it unapplied and fail every later apply and change (the whole hub stuck on one bad forward).
        await this.store.revert(text, previous);
        throw e;
      }
      return spec;
    } catch (e) {
      if (!(e instanceof SpecRejected)) throw e;
      const problems =
        before && who.kind === "peer"
          ? e.problems.flatMap((p) => redact(p, before, who.name))
          : await this.namedForwards(e.problems);
      const first = problems[0];
      if (!first) throw new Invalid("the hub's spec does not accept this change");
      const field = first.path.filter((p) => typeof p === "string").at(-1) as string | undefined;
      const each = problems.map((p) => ({ field: fieldName(p.path), message: p.message }));
      throw new Invalid(each.map((p) => `${p.field}: ${p.message}`).join("; "), field, each);
    }
  }

  /**
   * An admin's refused edit names the forwards it clashes with by name (`forward "rpi-tcp-80"`), not by
   * their index in the file (`forwards[0]`), which a command's user never saw.
   */
  private async namedForwards(problems: Diagnostic[]): Promise<Diagnostic[]> {
    if (!problems.some((p) => p.message.includes("forwards["))) return problems;
    const { forwards } = (await this.store.load()).spec;
    return problems.map((p) => ({
      ...p,
      message: p.message.replace(FORWARD_INDEX, (whole, k: string) => {
        const f = forwards[Number(k)];
        return f ? `forward ${JSON.stringify(f.name)}` : whole;
      }),
    }));
  }

  requireAdmin(who: Identity): void {
    if (isAdmin(who)) return;
    throw new Forbidden(who.kind === "peer" ? `peer ${who.name} is not an admin` : "only admins may do this");
  }

  /**
   * The hub is down on this host (nothing of it applied, as after `porthole down`; set by the CLI's
   * in-process API): a change edits the spec and is not applied, since applying would bring up the
   * tunnel and rules `down` removed. `porthole apply` (POST /v1/apply) still applies.
   */
  isDown = false;

  /** Applies a change just made (callers are inside `serial`), unless the hub is down. */
  async applyChange(listeners?: Listener[]): Promise<void> {
    if (!this.isDown) await this.reconcileNow(listeners);
  }

  /** Refuses callers that have not finished enrolling (or are no peer at all). */
  requirePeer(who: Identity): void {
    if (who.kind === "enrolling") throw new Forbidden("enroll first");
    if (who.kind === "stranger") throw new Forbidden(`${who.address} is not a peer of this hub`);
  }

  /**
   * The views handed out of one spec text (`from`, its hash; `data`, the text parsed once for them all),
   * by peer name (peers ask every 2 s). A new text starts a new map, so it holds at most one view per
   * peer of the spec: no limit below the peer count to make every request re-render (a 1000-entry cap
   * did, past 1000 peers).
   */
  private views: {
    from: string;
    data: ReturnType<typeof specData> | null;
    byPeer: Map<string, { text: string; hash: string }>;
    /** Each agent peer's parts of this text (what its apply depends on; hub/applied.ts compares them). */
    parts: Map<string, SpecParts>;
  } = { from: "", data: null, byPeer: new Map(), parts: new Map() };

  /** The views of the spec `loaded` is (a new text starts anew). */
  private viewsOf(loaded: { text: string; hash: string }) {
    if (this.views.from !== loaded.hash)
      this.views = { from: loaded.hash, data: null, byPeer: new Map(), parts: new Map() };
    return this.views;
  }

  /**
   * The spec as this caller may see it, and its hash (what /v1/whoami reports, so a peer refetches
   * only when its own part changed): all of it for admins and root, a peer's own part otherwise.
   */
  async specFor(who: Identity): Promise<{ text: string; hash: string }> {
    this.requirePeer(who);
    const loaded = await this.live();
    if (isAdmin(who) || who.kind !== "peer") return { text: loaded.text, hash: loaded.hash };
    return this.viewOf(loaded, who.name);
  }

  /** Peer `name`'s view of the spec `loaded` is, made once per text. */
  private viewOf(loaded: { text: string; hash: string; spec: Spec }, name: string) {
    const views = this.viewsOf(loaded);
    const hit = views.byPeer.get(name);
    if (hit) return hit;
    const text = peerSpecView(dataOf(views, loaded.text), loaded.spec, name);
    const view = { text, hash: specHash(text) };
    views.byPeer.set(name, view);
    return view;
  }

  /**
   * What the hub serves peer `name` now: the hash its agent reports applying (specFor's) and the
   * parts of the spec its apply depends on (kept per spec text).
   */
  async served(name: string, admin: boolean): Promise<{ hash: string; parts: SpecParts }> {
    const loaded = await this.live();
    const hash = admin ? loaded.hash : this.viewOf(loaded, name).hash;
    const views = this.viewsOf(loaded);
    let parts = views.parts.get(name);
    if (!parts) {
      parts = peerSpecParts(dataOf(views, loaded.text), loaded.spec, name);
      views.parts.set(name, parts);
    }
    return { hash, parts };
  }

  /** A free tunnel address: the lowest (peers) or highest (enrollment keys) not in use. */
  async freeAddress(spec: Spec, fromTop: boolean): Promise<string> {
    const used = new Set<bigint>([spec.hub.address.value, ...spec.peers.map((p) => p.address.value)]);
    for (const t of (await this.runtime.load()).tokens) {
      const a = parseAddr(t.address);
      if (a) used.add(a.value);
    }
    const { first, last } = hostRange(spec.hub.subnet);
    for (let i = 0n; i <= last - first; i++) {
      const a = addrAt(spec.hub.subnet, fromTop ? last - i : first + i);
      if (!used.has(a.value)) return formatAddr(a);
    }
    throw new Conflict(`no free address left in the hub's subnet`, "address");
  }

  /** The forwards as the plan of the spec text last reconciled or shown expanded them. */
  planned: { text: string; targets: Target[] } | null = null;

  /** The spec text this process applied last (null: none yet): the watch tells an edited file from drift. */
  appliedText: string | null = null;

  /**
   * The spec this process applied last (undefined: none yet): who holds each tunnel address is what
   * the interface carries, not a file edited since (a peer's key or address changed by hand holds
   * until the daemon applies the edit, within 2 s).
   */
  enforced?: Spec;
}

/** Another forward named by its index in the spec, as validation names it: `forwards[3]`. */
const FORWARD_INDEX = /forwards\[(\d+)\]/g;

/**
 * A problem of a refused edit, as a peer that is not an admin may read it: only problems of the new
 * item (the last forward), its own forwards named by name, another peer's as "another peer".
 */
function redact(problem: Diagnostic, before: Spec, self: string): Diagnostic[] {
  const [list, index] = problem.path;
  if (list !== "forwards" || index !== before.forwards.length) return [];
  const message = problem.message
    .replace(/forwards\[(\d+)\]( \([^)]*\))?/g, (_, k: string, detail: string | undefined) => {
      const f = before.forwards[Number(k)];
      return f?.peer === self ? `your forward "${f.name}"${detail ?? ""}` : "another peer";
    })
    .replace(/; known peers: .*$/, "");
  return [{ ...problem, message }];
}

/** `["forwards", 3, "allowFrom", 0]` -> `allowFrom[0]`: the field as the caller sent it, in the schema's notation. */
function fieldName(path: (string | number)[]): string {
  const i = path.findIndex((p) => p === "forwards" || p === "peers");
  const rest = i >= 0 && path.length > i + 2 ? path.slice(i + 2) : path;
  return rest.map((p, j) => (typeof p === "number" ? `[${p}]` : j ? `.${p}` : p)).join("");
}

/** The spec text of `views` as data, parsed once for all of its views and parts. */
function dataOf(views: { data: ReturnType<typeof specData> | null }, text: string) {
  views.data ??= specData(text);
  return views.data;
}
