// What the hub can be asked to do — by the API, by the CLI on the hub, by the daemon's watch loop.
// Every change goes spec store -> validate -> write -> reconcile, one at a time.
import type { Enrolling } from "../compile/plan.ts";
import { addrAt, formatAddr, hostRange, parseAddr } from "../net/ip.ts";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../net/wgkey.ts";
import { type ApplyResult, apply, type Context } from "../reconcile/reconcile.ts";
import type { Spec } from "../spec/types.ts";
import { activeEnrolling, type PendingToken, RuntimeStore } from "./runtime.ts";
import type { SpecEdit } from "./spec-edit.ts";
import { hubStatus, peerStatus } from "./status.ts";
import { SpecRejected, type SpecStore } from "./store.ts";
import { makeToken, tokenId, verifyToken } from "./tokens.ts";

/** An error for the API caller: HTTP status, message, and the field it is about. */
export class RequestError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 410,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export type Identity =
  | { kind: "root" }
  | { kind: "peer"; name: string; admin: boolean }
  | { kind: "enrolling"; tokenId: string }
  | { kind: "stranger"; address: string };

export interface ApplyStats {
  total: number;
  failures: number;
  lastDurationSeconds: number;
  lastError?: string;
}

export interface ForwardInput {
  name?: string;
  proto?: string;
  port: number | string;
  targetPort?: number | string;
  peer?: string;
  mode?: string;
  allowFrom?: string[];
}

export class HubService {
  readonly runtime: RuntimeStore;
  readonly stats: ApplyStats = { total: 0, failures: 0, lastDurationSeconds: 0 };
  private queue: Promise<unknown> = Promise.resolve();
  onApplyFailed?: (message: string) => void;

  constructor(
    readonly ctx: Context,
    readonly store: SpecStore,
    readonly now: () => number = Date.now,
  ) {
    this.runtime = new RuntimeStore(ctx.stateDir);
  }

  /** Runs changes one after another, in the order they were asked for. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  async identify(address: string | undefined, transport: "unix" | "tcp" | "local"): Promise<Identity> {
    if (transport !== "tcp") return { kind: "root" };
    const addr = (address ?? "").replace(/^::ffff:/, "");
    const { spec } = await this.store.load();
    const peer = spec.peers.find(
      (p) => formatAddr(p.address) === addr || (p.address6 && formatAddr(p.address6) === addr),
    );
    if (peer) return { kind: "peer", name: peer.name, admin: peer.admin };
    const token = (await this.runtime.load()).tokens.find((t) => t.address === addr);
    if (token) return { kind: "enrolling", tokenId: token.id };
    return { kind: "stranger", address: addr };
  }

  /** Makes the kernel match the spec (and the pending enrollment keys). */
  reconcile(): Promise<ApplyResult> {
    return this.serial(() => this.reconcileNow());
  }

  private async reconcileNow(): Promise<ApplyResult> {
    const started = this.now();
    this.stats.total++;
    try {
      const { spec, text } = await this.store.load();
      const enrolling = activeEnrolling(await this.runtime.load(), this.now());
      const r = await apply(this.ctx, { spec, specText: text, hostName: spec.hub.name, enrolling });
      this.stats.lastError = undefined;
      return r;
    } catch (e) {
      this.stats.failures++;
      this.stats.lastError = (e as Error).message;
      this.onApplyFailed?.((e as Error).message);
      throw e;
    } finally {
      this.stats.lastDurationSeconds = (this.now() - started) / 1000;
    }
  }

  private async change(edits: SpecEdit[]): Promise<Spec> {
    try {
      const { spec } = await this.store.update(edits);
      await this.reconcileNow();
      return spec;
    } catch (e) {
      if (e instanceof SpecRejected) {
        const first = e.problems[0];
        const field = first?.path.filter((p) => typeof p === "string").at(-1) as string | undefined;
        throw new RequestError(
          400,
          e.problems.map((p) => `${fieldName(p.path)}: ${p.message}`).join("; "),
          field,
        );
      }
      throw e;
    }
  }

  requireAdmin(who: Identity): void {
    if (who.kind === "root" || (who.kind === "peer" && who.admin)) return;
    throw new RequestError(
      403,
      who.kind === "peer" ? `peer ${who.name} is not an admin` : "only admins may do this",
    );
  }

  /** A free tunnel address: the lowest (peers) or highest (enrollment keys) not in use. */
  private async freeAddress(spec: Spec, fromTop: boolean): Promise<string> {
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
    throw new RequestError(409, `no free address left in the hub's subnet`, "address");
  }

  async addPeer(
    who: Identity,
    input: { name: string; admin?: boolean; device?: boolean; publicKey?: string },
  ) {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      if ((await this.runtime.load()).tokens.some((t) => t.name === input.name && !t.usedAt)) {
        throw new RequestError(409, `"${input.name}" has a pending join token already`, "name");
      }
      let privateKey: string | undefined;
      let publicKey = input.publicKey;
      if (!publicKey) {
        privateKey = generatePrivateKey();
        publicKey = publicKeyOf(privateKey);
      }
      const address = await this.freeAddress(spec, false);
      const entry: Record<string, unknown> = { name: input.name, publicKey, address };
      if (input.admin) entry.admin = true;
      if (input.device) entry.kind = "device";
      const next = await this.change([{ append: "peers", item: entry }]);
      return { spec: next, privateKey, address };
    });
  }

  async removePeer(who: Identity, name: string) {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      if (!spec.peers.some((p) => p.name === name))
        throw new RequestError(404, `no peer named "${name}"`, "name");
      const forwards = spec.forwards.filter((f) => f.peer === name).map((f) => f.name);
      await this.change([
        { remove: "forwards", where: (f) => f.peer === name },
        { remove: "peers", where: (p) => p.name === name },
      ]);
      return { removedForwards: forwards };
    });
  }

  async createToken(who: Identity, input: { name: string; admin?: boolean; expiresSeconds: number }) {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      if (spec.peers.some((p) => p.name === input.name))
        throw new RequestError(409, `a peer named "${input.name}" exists already`, "name");
      const runtime = await this.runtime.load();
      if (runtime.tokens.some((t) => t.name === input.name && !t.usedAt && t.expires > this.now())) {
        throw new RequestError(409, `"${input.name}" has a pending join token already`, "name");
      }
      const ephemeral = generatePrivateKey();
      const id = Math.floor(this.now()).toString(36) + Math.random().toString(36).slice(2, 6);
      const pending: PendingToken = {
        id,
        name: input.name,
        admin: !!input.admin,
        expires: this.now() + input.expiresSeconds * 1000,
        publicKey: publicKeyOf(ephemeral),
        address: await this.freeAddress(spec, true),
      };
      await this.runtime.update((r) => {
        r.tokens.push(pending);
      });
      await this.reconcileNow();
      const token = makeToken(await this.runtime.secret(), {
        i: id,
        n: input.name,
        h: `${spec.hub.endpoint.host}:${spec.hub.endpoint.port}`,
        k: spec.hub.publicKey,
        x: ephemeral,
        a: pending.address,
        m: spec.hub.subnet.prefix,
        s: formatAddr(spec.hub.address),
        p: spec.hub.apiPort,
        e: Math.floor(pending.expires / 1000),
      });
      return { token, expires: new Date(pending.expires).toISOString() };
    });
  }

  /** A new peer, talking through its enrollment key, registers its own public key. */
  async enroll(who: Identity, input: { token: string; publicKey: string }) {
    return this.serial(async () => {
      if (!verifyToken(await this.runtime.secret(), input.token ?? "")) {
        throw new RequestError(403, "this token was not made by this hub, or was altered", "token");
      }
      const runtime = await this.runtime.load();
      const id = tokenId(input.token);
      const t = runtime.tokens.find((x) => x.id === id);
      if (!t)
        throw new RequestError(410, "this token is unknown here (revoked, or used and forgotten)", "token");
      if (t.usedAt) throw new RequestError(409, "this token was used already; ask for a new one", "token");
      if (t.expires <= this.now())
        throw new RequestError(410, "this token has expired; ask for a new one", "token");
      if (who.kind !== "enrolling" || who.tokenId !== t.id) {
        throw new RequestError(403, "enroll through the tunnel opened with this token's key", "token");
      }
      const problem = keyProblem(input.publicKey);
      if (problem) throw new RequestError(400, `publicKey: ${problem}`, "publicKey");
      const { spec } = await this.store.load();
      const address = await this.freeAddress(spec, false);
      const entry: Record<string, unknown> = { name: t.name, publicKey: input.publicKey, address };
      if (t.admin) entry.admin = true;
      const next = await this.change([{ append: "peers", item: entry }]);
      const usedAt = this.now();
      await this.runtime.update((r) => {
        for (const x of r.tokens) if (x.id === t.id) x.usedAt = usedAt;
      });
      return { name: t.name, address, spec: (await this.store.load()).text, peers: next.peers.length };
    });
  }

  /** Drops expired and used enrollment keys; reconciles when that changes what the hub carries. */
  async pruneTokens(): Promise<boolean> {
    return this.serial(async () => {
      const runtime = await this.runtime.load();
      const now = this.now();
      const before = JSON.stringify(activeEnrolling(runtime, now - 1));
      const kept = runtime.tokens.filter(
        (t) => t.expires > now && (t.usedAt === undefined || now - t.usedAt < 60_000),
      );
      const changed = kept.length !== runtime.tokens.length;
      if (changed) {
        const gone = new Set(runtime.tokens.filter((t) => !kept.includes(t)).map((t) => t.id));
        await this.runtime.update((r) => {
          r.tokens = r.tokens.filter((t) => !gone.has(t.id));
        });
      }
      if (changed || before !== JSON.stringify(activeEnrolling(runtime, now))) {
        await this.reconcileNow();
        return true;
      }
      return false;
    });
  }

  async addForward(who: Identity, input: ForwardInput) {
    if (who.kind !== "root" && who.kind !== "peer")
      throw new RequestError(403, "only peers may expose ports");
    const peer = input.peer ?? (who.kind === "peer" ? who.name : undefined);
    if (!peer) throw new RequestError(400, "peer: which peer should receive the traffic?", "peer");
    if (who.kind === "peer" && !who.admin && peer !== who.name) {
      throw new RequestError(403, `peer ${who.name} may only expose its own ports, not ${peer}'s`, "peer");
    }
    return this.serial(async () => {
      const proto = input.proto ?? "tcp";
      const name =
        input.name ?? `${peer}-${proto.replace("+", "-")}-${String(input.port).replace(/[^0-9]+/g, "-")}`;
      const entry: Record<string, unknown> = { name, proto, port: input.port, peer };
      if (input.targetPort !== undefined) entry.targetPort = input.targetPort;
      if (input.mode) entry.mode = input.mode;
      if (input.allowFrom?.length) entry.allowFrom = input.allowFrom;
      const spec = await this.change([{ append: "forwards", item: entry }]);
      return spec.forwards.find((f) => f.name === name);
    });
  }

  async removeForward(who: Identity, name: string) {
    return this.serial(async () => {
      const { spec } = await this.store.load();
      const f = spec.forwards.find((x) => x.name === name);
      if (!f) throw new RequestError(404, `no forward named "${name}"`, "name");
      if (who.kind === "peer" && !who.admin && f.peer !== who.name) {
        throw new RequestError(
          403,
          `forward "${name}" belongs to ${f.peer}; peer ${who.name} may only remove its own`,
          "name",
        );
      }
      if (who.kind !== "root" && who.kind !== "peer")
        throw new RequestError(403, "only peers may remove forwards");
      await this.change([{ remove: "forwards", where: (x) => x.name === name }]);
      return f;
    });
  }

  async forwards(who: Identity) {
    const { spec } = await this.store.load();
    if (who.kind === "peer" && !who.admin) return spec.forwards.filter((f) => f.peer === who.name);
    if (who.kind === "enrolling" || who.kind === "stranger")
      throw new RequestError(403, "only peers may list forwards");
    return spec.forwards;
  }

  async status(probe = true) {
    const { spec } = await this.store.load();
    return hubStatus(spec, Math.floor(this.now() / 1000), probe);
  }

  /** Who is online (without the forwards' counters). */
  async peers() {
    const { spec } = await this.store.load();
    return (await peerStatus(spec, Math.floor(this.now() / 1000))).peers;
  }

  enrollingNow(): Promise<Enrolling[]> {
    return this.runtime.load().then((r) => activeEnrolling(r, this.now()));
  }
}

function fieldName(path: (string | number)[]): string {
  const i = path.findIndex((p) => p === "forwards" || p === "peers");
  const rest = i >= 0 ? path.slice(i + 2) : path;
  return rest.join(".") || path.join(".");
}
