// What the hub can be asked to do — by the API, by the CLI on the hub, by the daemon's watch loop.
// Every change goes spec store -> validate -> write -> reconcile, one at a time.

import { join } from "node:path";
import { expandTargets } from "../compile/targets.ts";
import { narrowFinding } from "../foreign/findings.ts";
import type { Listener } from "../host/types.ts";
import { addrAt, formatAddr, hostRange, parseAddr } from "../net/ip.ts";
import { formatRange, parsePortRange, rangeLength } from "../net/ports.ts";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../net/wgkey.ts";
import type { Enrolling, Target } from "../plan/plan.ts";
import type { ProbeReport, ReachabilityRequest } from "../protocol/requests.ts";
import type { ProbeTask, ReachabilityReply } from "../protocol/responses.ts";
import { specHash } from "../protocol/spec-hash.ts";
import type { FirewallFinding, HubStatus } from "../protocol/status.ts";
import { makeToken, tokenId, verifyToken } from "../protocol/tokens.ts";
import { type ApplyResult, apply, type Context } from "../reconcile/reconcile.ts";
import { describeShadow, FORCE_HOW, findShadows } from "../reconcile/shadowed.ts";
import { readApplied } from "../reconcile/state.ts";
import { NAME_RE, NAME_RULE } from "../spec/defaults.ts";
import type { Diagnostic } from "../spec/diagnostics.ts";
import { hubReservedPorts } from "../spec/reserved-ports.ts";
import type { Forward, Proto, Spec } from "../spec/types.ts";
import { Conflict, Forbidden, Gone, Invalid, NotFound } from "./errors.ts";
import { APPLY_BUCKETS, Histogram } from "./metrics.ts";
import { CONNECTED_S, judgeReport, ProbeBroker, probeTargets } from "./reachability.ts";
import { RequestLog } from "./request-log.ts";
import { activeEnrolling, type PendingToken, RuntimeStore } from "./runtime.ts";
import type { SpecEdit } from "./spec-edit.ts";
import { peerSpecView } from "./spec-view.ts";
import { hubStatus, peerStatus } from "./status.ts";
import { SpecRejected, type SpecStore } from "./store.ts";

export type Identity =
  | { kind: "root" }
  | { kind: "peer"; name: string; admin: boolean }
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

export interface ForwardInput {
  name?: string;
  proto?: string;
  port: number | string;
  targetPort?: number | string;
  peer?: string;
  mode?: string;
  allowFrom?: string[];
  /** Take the public port even though a service on the hub listens on it (admins only). */
  shadowHubService?: boolean;
}

export class HubService {
  readonly runtime: RuntimeStore;
  /** Outcomes of changes by request id (shared by the API's unix and TCP listeners), kept across restarts. */
  readonly requests: RequestLog;
  readonly stats: ApplyStats = {
    total: 0,
    failures: 0,
    lastDurationSeconds: 0,
    durations: new Histogram(APPLY_BUCKETS),
  };
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

  /** Runs changes one after another, in the order they were asked for. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  async identify(address: string | undefined, transport: "unix" | "tcp" | "local"): Promise<Identity> {
    if (transport !== "tcp") return { kind: "root" };
    const addr = (address ?? "").replace(/^::ffff:/, "");
    const { spec } = await this.live();
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

  /** The spec the hub runs on: the file, or while it has errors the last valid one (see SpecStore.live). */
  private live() {
    return this.store.live(
      async () => (await readApplied(this.ctx.host, this.ctx.stateDir))?.specText ?? null,
    );
  }

  /** What is wrong with the spec file now (null: nothing); the hub runs on its last valid spec meanwhile. */
  async specProblem(): Promise<string | null> {
    return (await this.live()).problem;
  }

  /** `listeners`: the hub's listening sockets as a change just read them (apply need not look again). */
  private async reconcileNow(listeners?: Listener[]): Promise<ApplyResult> {
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
      });
      this.stats.lastError = undefined;
      this.planned = { text, targets: r.plan.targets };
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
  private async change(
    edits: SpecEdit[],
    who: Identity = { kind: "root" },
    listeners?: Listener[],
  ): Promise<Spec> {
    // A spec file broken by hand: the edit would be refused for problems that are not the caller's.
    const { problem } = await this.live();
    if (problem)
      throw new Conflict(
        isAdmin(who)
          ? `the hub's spec file has errors, so no change is possible until it is fixed:\n${problem}`
          : "the hub's spec file has errors, so no change is possible until it is fixed (on the hub: `porthole validate`)",
      );
    const before = isAdmin(who) ? undefined : (await this.store.load()).spec;
    try {
      const { spec } = await this.store.update(edits);
      await this.reconcileNow(listeners);
      return spec;
    } catch (e) {
      if (!(e instanceof SpecRejected)) throw e;
      const problems =
        before && who.kind === "peer" ? e.problems.flatMap((p) => redact(p, before, who.name)) : e.problems;
      const first = problems[0];
      if (!first) throw new Invalid("the hub's spec does not accept this change");
      const field = first.path.filter((p) => typeof p === "string").at(-1) as string | undefined;
      throw new Invalid(problems.map((p) => `${fieldName(p.path)}: ${p.message}`).join("; "), field);
    }
  }

  requireAdmin(who: Identity): void {
    if (isAdmin(who)) return;
    throw new Forbidden(who.kind === "peer" ? `peer ${who.name} is not an admin` : "only admins may do this");
  }

  /** Refuses callers that have not finished enrolling (or are no peer at all). */
  requirePeer(who: Identity): void {
    if (who.kind === "enrolling") throw new Forbidden("enroll first");
    if (who.kind === "stranger") throw new Forbidden(`${who.address} is not a peer of this hub`);
  }

  /** Last view handed out per peer, for the spec text it was made from (peers ask every 2 s). */
  private views = new Map<string, { from: string; text: string; hash: string }>();

  /**
   * The spec as this caller may see it, and its hash (what /v1/whoami reports, so a peer refetches
   * only when its own part changed): all of it for admins and root, a peer's own part otherwise.
   */
  async specFor(who: Identity): Promise<{ text: string; hash: string }> {
    this.requirePeer(who);
    const loaded = await this.live();
    if (isAdmin(who) || who.kind !== "peer") return { text: loaded.text, hash: loaded.hash };
    const hit = this.views.get(who.name);
    if (hit?.from === loaded.hash) return hit;
    const text = peerSpecView(loaded.text, loaded.spec, who.name);
    const view = { from: loaded.hash, text, hash: specHash(text) };
    if (this.views.size > 1000) this.views.clear();
    this.views.set(who.name, view);
    return view;
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
    throw new Conflict(`no free address left in the hub's subnet`, "address");
  }

  async addPeer(
    who: Identity,
    input: { name: string; admin?: boolean; device?: boolean; publicKey?: string },
  ) {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      if ((await this.runtime.load()).tokens.some((t) => t.name === input.name && !t.usedAt)) {
        throw new Conflict(`"${input.name}" has a pending join token already`, "name");
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

  async removePeer(
    who: Identity,
    name: string,
  ): Promise<{ removedForwards: string[]; revokedToken?: boolean }> {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      if (!spec.peers.some((p) => p.name === name)) {
        // Not a peer yet: revoke its pending join token (its enrollment key leaves the interface now).
        const runtime = await this.runtime.load();
        if (!runtime.tokens.some((t) => t.name === name && !t.usedAt))
          throw new NotFound(`no peer or pending join token named "${name}"`, "name");
        await this.runtime.update((r) => {
          r.tokens = r.tokens.filter((t) => !(t.name === name && !t.usedAt));
        });
        await this.reconcileNow();
        return { removedForwards: [], revokedToken: true };
      }
      const forwards = spec.forwards.filter((f) => f.peer === name).map((f) => f.name);
      await this.change([
        { remove: "forwards", where: (f) => f.peer === name },
        { remove: "peers", where: (p) => p.name === name },
      ]);
      return { removedForwards: forwards };
    });
  }

  /** Join tokens not used yet: name, admin, expiry (ISO 8601) and whether it has expired. */
  async pendingTokens(who: Identity) {
    this.requireAdmin(who);
    const now = this.now();
    return (await this.runtime.load()).tokens
      .filter((t) => !t.usedAt)
      .map((t) => ({
        name: t.name,
        admin: t.admin,
        expires: new Date(t.expires).toISOString(),
        expired: t.expires <= now,
      }));
  }

  async createToken(who: Identity, input: { name: string; admin?: boolean; expiresSeconds: number }) {
    this.requireAdmin(who);
    return this.serial(async () => {
      const { spec } = await this.store.load();
      // The name the hub will accept at enrollment, checked now: a token for a refused name cannot work.
      if (!NAME_RE.test(input.name))
        throw new Invalid(
          `name: ${JSON.stringify(input.name)} is not a valid name; use ${NAME_RULE}`,
          "name",
        );
      if (input.name === spec.hub.name)
        throw new Conflict(`name: "${input.name}" is the hub's name; pick another`, "name");
      if (spec.peers.some((p) => p.name === input.name))
        throw new Conflict(`a peer named "${input.name}" exists already`, "name");
      const runtime = await this.runtime.load();
      if (runtime.tokens.some((t) => t.name === input.name && !t.usedAt && t.expires > this.now())) {
        throw new Conflict(`"${input.name}" has a pending join token already`, "name");
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
        throw new Forbidden("this token was not made by this hub, or was altered", "token");
      }
      const runtime = await this.runtime.load();
      const id = tokenId(input.token);
      const t = runtime.tokens.find((x) => x.id === id);
      if (!t) throw new Gone("this token is unknown here (revoked, or used and forgotten)", "token");
      if (t.usedAt) throw new Conflict("this token was used already; ask for a new one", "token");
      if (t.expires <= this.now()) throw new Gone("this token has expired; ask for a new one", "token");
      if (who.kind !== "enrolling" || who.tokenId !== t.id) {
        throw new Forbidden("enroll through the tunnel opened with this token's key", "token");
      }
      const problem = keyProblem(input.publicKey);
      if (problem) throw new Invalid(`publicKey: ${problem}`, "publicKey");
      const { spec } = await this.store.load();
      const address = await this.freeAddress(spec, false);
      const entry: Record<string, unknown> = { name: t.name, publicKey: input.publicKey, address };
      if (t.admin) entry.admin = true;
      const next = await this.change([{ append: "peers", item: entry }]);
      const usedAt = this.now();
      await this.runtime.update((r) => {
        for (const x of r.tokens) if (x.id === t.id) x.usedAt = usedAt;
      });
      const self: Identity = { kind: "peer", name: t.name, admin: t.admin };
      return { name: t.name, address, spec: (await this.specFor(self)).text, peers: next.peers.length };
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

  async addForward(who: Identity, given: ForwardInput) {
    if (who.kind !== "root" && who.kind !== "peer") throw new Forbidden("only peers may expose ports");
    // " 80" is 80: surrounding whitespace must not end up in the port or the generated name.
    const trim = <T>(v: T) => (typeof v === "string" ? (v.trim() as T) : v);
    const input = {
      ...given,
      port: trim(given.port),
      targetPort: trim(given.targetPort),
      proto: trim(given.proto),
    };
    const peer = input.peer ?? (who.kind === "peer" ? who.name : undefined);
    if (!peer) throw new Invalid("peer: which peer should receive the traffic?", "peer");
    if (who.kind === "peer" && !who.admin && peer !== who.name) {
      throw new Forbidden(`peer: ${who.name} is not an admin, so it may only expose its own ports`, "peer");
    }
    return this.serial(async () => {
      const proto = input.proto ?? "tcp";
      const name =
        input.name ?? `${peer}-${proto.replace("+", "-")}-${String(input.port).replace(/[^0-9]+/g, "-")}`;
      if (!isAdmin(who)) checkQuota((await this.store.load()).spec, peer, proto, input.port);
      const entry: Record<string, unknown> = { name, proto, port: input.port, peer };
      if (input.targetPort !== undefined) entry.targetPort = input.targetPort;
      if (input.mode) entry.mode = input.mode;
      if (input.allowFrom?.length) entry.allowFrom = input.allowFrom;
      const listeners = await this.refuseShadowing(
        who,
        { name, proto, port: input.port },
        input.shadowHubService === true,
      );
      if (input.shadowHubService) entry.shadowHubService = true;
      const spec = await this.change([{ append: "forwards", item: entry }], who, listeners);
      return spec.forwards.find((f) => f.name === name);
    });
  }

  /**
   * A public port that a service on the hub listens on is refused before the spec is touched: always for
   * peers that are not admins, for admins unless they force it (shadowHubService). Returns the sockets
   * it saw, for apply to reuse (undefined when it did not look).
   */
  private async refuseShadowing(
    who: Identity,
    f: { name: string; proto: string; port: number | string },
    force: boolean,
  ): Promise<Listener[] | undefined> {
    if (force && !isAdmin(who)) {
      throw new Forbidden(
        "shadowHubService: only an admin may forward a port that a service on the hub uses",
        "shadowHubService",
      );
    }
    const port = parsePortRange(f.port);
    if (force || !port.ok) return undefined; // a bad port is reported by the spec's own check
    const protos = (f.proto === "tcp+udp" ? ["tcp", "udp"] : [f.proto]) as Proto[];
    const { spec } = await this.live();
    // The hub's own ports (WireGuard, SSH, hub.reservedPorts) are the spec check's to refuse, in its words.
    const own = hubReservedPorts(spec.hub).some(
      (r) =>
        r.protos.some((p) => protos.includes(p)) &&
        r.range.from <= port.range.to &&
        port.range.from <= r.range.to,
    );
    if (own) return undefined;
    const seen = await this.ctx.host.sockets.listening(false);
    const admin = isAdmin(who);
    const [s] = await findShadows(
      this.ctx.host,
      spec.hub,
      [{ name: f.name, protos, port: port.range }],
      seen,
      admin,
    );
    if (!s) return seen;
    const fix = admin
      ? `pick another public port, or, if the forward should take the port over, force it: ${FORCE_HOW}`
      : "pick another public port (only an admin can force a forward over a service of the hub)";
    throw new Conflict(
      `port: ${describeShadow(s, !admin)}; a forward would cut that service off from the internet. ${fix}`,
      "port",
    );
  }

  async removeForward(who: Identity, name: string) {
    if (who.kind !== "root" && who.kind !== "peer") throw new Forbidden("only peers may remove forwards");
    return this.serial(async () => {
      const { spec } = await this.store.load();
      const f = spec.forwards.find((x) => x.name === name);
      // "Not yours" and "no such" are one answer: a peer learns nothing of the others' forwards.
      if (!f || (who.kind === "peer" && !who.admin && f.peer !== who.name))
        throw new NotFound(`no forward named "${name}"`, "name");
      await this.change([{ remove: "forwards", where: (x) => x.name === name }], who);
      return f;
    });
  }

  async forwards(who: Identity) {
    this.requirePeer(who);
    const { spec } = await this.live();
    if (who.kind === "peer" && !who.admin) return spec.forwards.filter((f) => f.peer === who.name);
    return spec.forwards;
  }

  /** The hub's status (probe: TCP-connect each forward's target). */
  async status(probe = true): Promise<HubStatus> {
    const { spec, text } = await this.live();
    return hubStatus(this.ctx.host, spec, this.targets(spec, text), Math.floor(this.now() / 1000), probe);
  }

  /** The forwards as the plan of the spec text last reconciled or shown expanded them. */
  private planned: { text: string; targets: Target[] } | null = null;

  /**
   * The forwards of `spec` expanded: the last applied plan's when the spec is the one it was compiled
   * from (the usual case), else expanded as compile does (a spec not applied yet, or no apply in this
   * process), once per text.
   */
  private targets(spec: Spec, text: string): Target[] {
    if (this.planned?.text !== text) this.planned = { text, targets: expandTargets(spec) };
    return this.planned.targets;
  }

  /** Status computations under way (with probes, without), shared by the requests that arrive meanwhile. */
  private statusRuns = new Map<boolean, Promise<HubStatus>>();

  /**
   * The status as this caller may see it: a peer that is not an admin sees itself and its forwards.
   * Requests that arrive while one is being computed get that one: however many peers ask at once, the
   * hub reads its counters and probes the targets once at a time.
   */
  async statusFor(who: Identity, probe = true): Promise<HubStatus> {
    this.requirePeer(who);
    let run = this.statusRuns.get(probe);
    if (!run) {
      run = this.status(probe).finally(() => this.statusRuns.delete(probe));
      this.statusRuns.set(probe, run);
    }
    const s = await run;
    if (who.kind !== "peer" || who.admin) return s;
    return {
      ...s,
      peers: s.peers.filter((p) => p.name === who.name),
      forwards: s.forwards.filter((f) => f.peer === who.name),
      firewall: narrowFindings(
        s.firewall,
        s.forwards.filter((f) => f.peer === who.name).map((f) => f.name),
      ),
    };
  }

  /** Reachability probes waiting for a peer (handed out in whoami answers). */
  readonly probes = new ProbeBroker();

  /**
   * Asks a connected peer (`req.peer`, else the one that shook hands last) to probe the hub's public
   * ports over its own internet path, and judges its report. Admins and root only: it makes a peer
   * send traffic. Never throws for a peer that does not answer: every port is then "unknown".
   */
  async reachability(who: Identity, req: ReachabilityRequest): Promise<ReachabilityReply> {
    this.requireAdmin(who);
    const { spec } = await this.live();
    const targets = probeTargets(spec);
    const now = this.now() / 1000;
    const stats = (await this.ctx.host.stats.wgPeers(spec.hub.interface)) ?? [];
    const connected = spec.peers
      .filter((p) => p.kind === "agent")
      .map((p) => ({
        name: p.name,
        at: stats.find((x) => x.publicKey === p.publicKey)?.latestHandshake ?? 0,
      }))
      .filter((p) => p.at > 0 && now - p.at <= CONNECTED_S)
      .sort((a, b) => b.at - a.at);
    if (req.peer && !spec.peers.some((p) => p.name === req.peer))
      throw new NotFound(`no peer named ${req.peer}`, "peer");
    const chosen = req.peer ? connected.find((p) => p.name === req.peer) : connected[0];
    const unknown = (note: string): ReachabilityReply => ({
      peer: chosen?.name ?? null,
      address: null,
      findings: targets.map((t) => ({
        ...t,
        status: "unknown",
        found: `${t.proto}/${t.port} (${t.what}): not probed`,
      })),
      note,
    });
    if (!chosen)
      return unknown(
        req.peer
          ? `${req.peer} has not shaken hands in the last ${CONNECTED_S} s: it cannot probe`
          : `no peer running the agent has shaken hands in the last ${CONNECTED_S} s: nobody to probe from outside`,
      );
    const report = await this.probes.ask(chosen.name, spec.hub.endpoint.host, targets);
    if (!report)
      return unknown(
        `${chosen.name} did not report within a few seconds: is its agent (porthole peer run) running, and of this version?`,
      );
    return {
      peer: chosen.name,
      address: report.address,
      findings: judgeReport(chosen.name, targets, report, spec.hub.interface),
    };
  }

  /** A peer's pending probe task, handed out once (in its whoami answer). */
  probeTaskFor(who: Identity): ProbeTask | undefined {
    return who.kind === "peer" ? this.probes.taskFor(who.name) : undefined;
  }

  /** A peer's report of a probe task it was given. */
  reportProbe(who: Identity, id: string, report: ProbeReport): void {
    this.requirePeer(who);
    if (who.kind !== "peer" || !this.probes.report(who.name, id, report))
      throw new NotFound(`no probe ${id} is waiting for this peer's report`);
  }

  /** Who is online (without the forwards' counters). */
  async peers() {
    const { spec } = await this.live();
    return (await peerStatus(this.ctx.host, spec, Math.floor(this.now() / 1000))).peers;
  }

  enrollingNow(): Promise<Enrolling[]> {
    return this.runtime.load().then((r) => activeEnrolling(r, this.now()));
  }
}

/** Other owners' drops as a non-admin peer sees them: only those of its own forwards. */
const narrowFindings = (all: FirewallFinding[], forwards: string[]) =>
  all.flatMap((f) => narrowFinding(f, forwards) ?? []);

const isAdmin = (who: Identity) => who.kind === "root" || (who.kind === "peer" && who.admin);

const countPorts = (f: Pick<Forward, "protos" | "port">) => f.protos.length * rangeLength(f.port);

/**
 * The hub's limits (hub.limits) on what a peer that is not an admin may ask for: forwards per peer,
 * public ports per peer (per protocol), and the span of one range. An invalid port is left to the spec's
 * own check. Throws Forbidden naming the limit.
 */
function checkQuota(spec: Spec, peer: string, proto: string, port: number | string): void {
  const { limits } = spec.hub;
  const mine = spec.forwards.filter((f) => f.peer === peer);
  if (mine.length + 1 > limits.forwardsPerPeer) {
    throw new Forbidden(
      `${peer} has ${mine.length} forwards, as many as hub.limits.forwardsPerPeer (${limits.forwardsPerPeer}) allows a peer that is not an admin; remove one (porthole unexpose) or ask an admin`,
      "name",
    );
  }
  const parsed = parsePortRange(port);
  if (!parsed.ok) return;
  const range = parsed.range;
  if (rangeLength(range) > limits.maxRangeWithoutAdmin) {
    throw new Forbidden(
      `port: ${formatRange(range)} spans ${rangeLength(range)} ports; a peer that is not an admin may forward ranges of up to ${limits.maxRangeWithoutAdmin} (hub.limits.maxRangeWithoutAdmin); ask an admin for more`,
      "port",
    );
  }
  const protos = proto === "tcp+udp" ? ["tcp", "udp"] : [proto];
  const used = mine.reduce((n, f) => n + countPorts(f), 0);
  const asked = protos.length * rangeLength(range);
  if (used + asked > limits.portsPerPeer) {
    throw new Forbidden(
      `port: ${proto}/${formatRange(range)} would bring ${peer} to ${used + asked} public ports (counted per protocol); hub.limits.portsPerPeer allows a peer that is not an admin ${limits.portsPerPeer}; remove a forward or ask an admin`,
      "port",
    );
  }
}

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
