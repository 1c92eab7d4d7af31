// What the hub can be asked to do — by the API, by the CLI on the hub, by the daemon's watch loop. The
// work is done in the domain files (hub/peers.ts, hub/forwards.ts, hub/enrollment.ts) over the shared
// context (hub/context.ts); here are the callers' entry points, the status and the reachability probes.

import { expandTargets } from "../compile/targets.ts";
import { narrowFinding } from "../foreign/findings.ts";
import type { WgDumpPeer } from "../host/types.ts";
import { formatAddr } from "../net/ip.ts";
import type { Enrolling, Target } from "../plan/plan.ts";
import { sendsEvery, silentAfter } from "../protocol/probe-text.ts";
import type { AppliedReport, ProbeReport, ReachabilityRequest } from "../protocol/requests.ts";
import type { PeerApplied, ProbeTask, ReachabilityReply } from "../protocol/responses.ts";
import type { FirewallFinding, HubStatus, PeerStatus } from "../protocol/status.ts";
import type { ApplyResult } from "../reconcile/reconcile.ts";
import type { Spec } from "../spec/types.ts";
import { oneLine, withApplied } from "./applied.ts";
import { Census } from "./census.ts";
import { HubContext, type Identity } from "./context.ts";
import { createToken, enroll, enrollingNow, pendingTokens, pruneTokens } from "./enrollment.ts";
import { Forbidden, NotFound } from "./errors.ts";
import type { ForwardNumbers } from "./forward-status.ts";
import { addForward, type ForwardInput, listForwards, removeForward } from "./forwards.ts";
import { addPeer, onlinePeers, removePeer } from "./peers.ts";
import { PROBE_TIMEOUT_MS, ProbeCache, type ProbeSource } from "./probe-cache.ts";
import { CONNECTED_S, judgeReport, outsideAllowList, ProbeBroker, probeTargets } from "./reachability.ts";
import { countForwards, hubStatus } from "./status.ts";

export class HubService extends HubContext {
  async identify(address: string | undefined, transport: "unix" | "tcp" | "local"): Promise<Identity> {
    if (transport !== "tcp") return { kind: "root" };
    const addr = (address ?? "").replace(/^::ffff:/, "");
    // By the spec applied last: the interface's keys are what make the address the peer's.
    const spec = this.enforced ?? (await this.live()).spec;
    const peer = spec.peers.find(
      (p) => formatAddr(p.address) === addr || (p.address6 && formatAddr(p.address6) === addr),
    );
    if (peer) return { kind: "peer", name: peer.name, admin: peer.admin, publicKey: peer.publicKey };
    const token = (await this.runtime.load()).tokens.find((t) => t.address === addr);
    if (token) return { kind: "enrolling", tokenId: token.id };
    return { kind: "stranger", address: addr };
  }

  /**
   * Makes the kernel match the spec (and the pending enrollment keys). `countRules`: count table inet
   * porthole's rules too (ApplyRequest.countRules): an apply someone asked for, the daemon's start.
   */
  reconcile(countRules = false): Promise<ApplyResult> {
    return this.serial(() => this.reconcileNow(undefined, countRules));
  }

  addPeer(who: Identity, input: Parameters<typeof addPeer>[2]) {
    return addPeer(this, who, input);
  }

  removePeer(who: Identity, name: string) {
    return removePeer(this, who, name);
  }

  /** Join tokens not used yet: name, admin, expiry (ISO 8601) and whether it has expired. */
  pendingTokens(who: Identity) {
    return pendingTokens(this, who);
  }

  createToken(who: Identity, input: Parameters<typeof createToken>[2]) {
    return createToken(this, who, input);
  }

  /** A new peer, talking through its enrollment key, registers its own public key. */
  enroll(who: Identity, input: { token: string; publicKey: string }) {
    return enroll(this, who, input);
  }

  /** Drops expired and used enrollment keys; reconciles when that changes what the hub carries. */
  pruneTokens(): Promise<boolean> {
    return pruneTokens(this);
  }

  addForward(who: Identity, given: ForwardInput) {
    return addForward(this, who, given);
  }

  removeForward(who: Identity, name: string) {
    return removeForward(this, who, name);
  }

  forwards(who: Identity) {
    return listForwards(this, who);
  }

  /** The forwards' targets as status last probed them (kept for the daemon's lifetime). */
  private readonly probeCache = new ProbeCache(
    (addr, port) => this.ctx.host.probe.connect(addr, port, PROBE_TIMEOUT_MS),
    () => this.now(),
  );

  /** A target at an address another key holds now is another machine: its old results go. */
  protected override forgetTargets(addresses: string[]): void {
    this.probeCache.forget(addresses);
  }

  /** The cache's last results, probing nothing. */
  private readonly lastProbes: ProbeSource = {
    check: async (targets) => this.probeCache.last(targets),
  };

  /** The forwards' counters as last counted (kept for the daemon's lifetime; see hub/census.ts). */
  private readonly census = new Census<ForwardNumbers>(() => this.now());

  /**
   * The hub's status. probe: TCP-connect the forwards' targets not probed lately (see ProbeCache);
   * false: report the targets' last probes with their age, probing nothing (/metrics). Its counters
   * come from the census: counted now, or by an earlier status or the daemon's watch, as `countedAt`
   * says.
   */
  async status(probe = true): Promise<HubStatus> {
    const { spec, text, hash, problem } = await this.live();
    const now = this.now();
    const targets = this.targets(spec, text);
    const probes = probe ? this.probeCache : this.lastProbes;
    const counted = this.census.read(hash, () => countForwards(this.ctx.host, spec, targets));
    const s = await hubStatus(
      this.ctx.host,
      spec,
      targets,
      Math.floor(now / 1000),
      probes,
      now,
      this.rx,
      counted,
    );
    const judged = await this.appliedJudged(spec);
    return { ...(judged ? withApplied(s, judged) : s), specProblem: problem };
  }

  /** Each agent peer's side judged against the spec the hub serves it now; null: no reports taken. */
  private async appliedJudged(spec: Spec): Promise<Map<string, PeerApplied> | null> {
    const log = this.applied;
    if (!log) return null;
    const now = this.now();
    const out = new Map<string, PeerApplied>();
    for (const p of spec.peers) {
      if (p.kind !== "agent") continue;
      out.set(p.name, log.judge(p.name, p.publicKey, await this.served(p.name, p.admin), now));
    }
    return out;
  }

  /** A peer's agent asked who it is (whoami): noted, and what the hub has on record of its last apply. */
  heardFrom(who: Identity): { applied?: { specHash: string; error: string | null } | null } {
    if (who.kind !== "peer" || !this.applied) return {};
    this.applied.heardFrom(who.publicKey, this.now());
    return { applied: this.applied.echo(who.publicKey) };
  }

  /** A peer reports its own last apply (POST /v1/applied). */
  async reportApplied(who: Identity, report: AppliedReport): Promise<void> {
    this.requirePeer(who);
    if (who.kind !== "peer") throw new Forbidden("only a peer reports what it applied, through the tunnel");
    const log = this.applied;
    if (!log) throw new NotFound("this hub takes no reports of what peers applied");
    const served = await this.served(who.name, who.admin);
    const before = log.echo(who.publicKey);
    log.report(who.publicKey, report, served);
    // The daemon's log says when a peer's apply starts or stops failing (not every report).
    if (report.error !== null && before?.error !== report.error)
      this.onPeerApply?.(
        `peer ${who.name}: its apply of spec ${report.specHash} failed: ${oneLine(report.error)}`,
      );
    else if (report.error === null && before?.error)
      this.onPeerApply?.(`peer ${who.name}: applied spec ${report.specHash} (its apply failed before)`);
  }

  /** Told when a peer's apply starts or stops failing, in words (the daemon logs it). */
  onPeerApply?: (line: string) => void;

  /**
   * Keeps the census from growing old while nobody asks for status: the daemon's watch calls this every
   * round; it counts in the background at the census's idle pace (at most ~2 % of the time).
   */
  async recount(): Promise<void> {
    const { spec, text, hash } = await this.live();
    const targets = this.targets(spec, text);
    this.census.idle(hash, () => countForwards(this.ctx.host, spec, targets));
  }

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
      specProblem: undefined,
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
    // A handshake reads recent for up to 2 minutes after the tunnel broke; the hub's watch of what it
    // received says which peer is still heard (a silent one cannot probe: it would only time out).
    const heard = await onlinePeers(this);
    const silence = (p: Spec["peers"][number]) => {
      const rx = heard.find((x) => x.name === p.name)?.receivedSecondsAgo ?? null;
      const within = silentAfter(p.keepalive);
      return rx !== null && within !== null && rx >= within ? rx : null;
    };
    const connected = spec.peers
      .filter((p) => p.kind === "agent")
      .map((p) => ({
        name: p.name,
        publicKey: p.publicKey,
        at: stats.find((x) => x.publicKey === p.publicKey)?.latestHandshake ?? 0,
        endpoint: stats.find((x) => x.publicKey === p.publicKey)?.endpoint,
        silentS: silence(p),
        keepalive: p.keepalive,
      }))
      .filter((p) => p.at > 0 && now - p.at <= CONNECTED_S)
      .sort((a, b) => Number(a.silentS !== null) - Number(b.silentS !== null) || b.at - a.at);
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
    if (chosen.silentS !== null)
      return unknown(
        `${chosen.name}${req.peer ? "" : ", the peer that shook hands last,"} has sent the hub nothing for ${chosen.silentS} s (${sendsEvery(chosen)}): its tunnel is likelier down (see the peers check), so it cannot probe from outside`,
      );
    const report = await this.probes.ask(chosen.publicKey, spec.hub.endpoint.host, targets);
    if (!report)
      return unknown(
        `${chosen.name} did not report within a few seconds: is its agent (porthole peer run) running, and of this version?`,
      );
    return {
      peer: chosen.name,
      address: report.address,
      findings: judgeReport(
        chosen.name,
        targets,
        report,
        spec.hub.interface,
        outsideAllowList(spec, chosen.endpoint),
      ),
    };
  }

  /** A peer's pending probe task, handed out once (in its whoami answer). */
  probeTaskFor(who: Identity): ProbeTask | undefined {
    return who.kind === "peer" ? this.probes.taskFor(who.publicKey) : undefined;
  }

  /** A peer's report of a probe task it was given. */
  reportProbe(who: Identity, id: string, report: ProbeReport): void {
    this.requirePeer(who);
    if (who.kind !== "peer" || !this.probes.report(who.publicKey, id, report))
      throw new NotFound(`no probe ${id} is waiting for this peer's report`);
  }

  /**
   * Who is online (without the forwards' counters), and each agent peer's side of the spec. `seen`: the
   * interface's peers as just read (onlinePeers).
   */
  async peers(seen?: WgDumpPeer[]): Promise<PeerStatus[]> {
    const peers = await onlinePeers(this, seen);
    const judged = await this.appliedJudged((await this.live()).spec);
    return judged ? withApplied({ peers, forwards: [] }, judged).peers : peers;
  }

  enrollingNow(): Promise<Enrolling[]> {
    return enrollingNow(this);
  }
}

/** Other owners' drops as a non-admin peer sees them: only those of its own forwards. */
const narrowFindings = (all: FirewallFinding[], forwards: string[]) =>
  all.flatMap((f) => narrowFinding(f, forwards) ?? []);
