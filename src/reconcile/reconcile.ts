// observe -> diff -> apply -> verify, rolled back as a whole when any step or the verify fails.
import { join } from "node:path";
import { type CompileOptions, compile } from "../compile/compile.ts";
import type { ForeignSnapshot } from "../host/foreign.ts";
import type { Host, Listener, WgState } from "../host/types.ts";
import { keyProblem, publicKeyOf } from "../net/wgkey.ts";
import type { Enrolling, HostPlan, PlannedFile } from "../plan/plan.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { diffIptables, diffNft, heldPrevious, observeFirewall } from "./firewall.ts";
import { describePorts, forgetStep, portsToForget } from "./flows.ts";
import { diffForeign, warningLines } from "./passes.ts";
import { describeShadow, findShadows, newClaims } from "./shadowed.ts";
import { checkSshPath } from "./ssh-guard.ts";
import {
  type AppliedRecord,
  clearIntent,
  readApplied,
  readIntent,
  saveEndpoints,
  writeApplied,
  writeIntent,
} from "./state.ts";
import { ApplyError, runSteps, type Step, undoAll } from "./steps.ts";
import { subnetClash } from "./subnet-clash.ts";
import { forwardChanges } from "./summary.ts";
import { diffFiles, diffRouting, diffSysctl } from "./system.ts";
import { diffWireguard } from "./wireguard.ts";

export interface Context {
  host: Host;
  keyFile: string;
  stateDir: string;
  /** Prefix for /etc/sysctl.d and /etc/systemd/system (a temp dir in tests, a lab host's dir in the lab). */
  root: string;
  /** How the systemd unit starts porthole. */
  bin: string;
  unitEnv?: Record<string, string>;
  /** What the systemd unit runs: the saved state once ("oneshot"), or the hub/peer daemon. */
  service?: "oneshot" | "daemon";
  /**
   * The daemon runs inside its own (sandboxed, read-only) unit: it leaves the unit file to the
   * commands that set the host up (`hub init`, `join`, `apply`) instead of rewriting it.
   */
  leaveUnit?: boolean;
  log?: (line: string) => void;
}

export interface ApplyRequest {
  spec: Spec;
  specText: string;
  hostName: string;
  dryRun?: boolean;
  /** $SSH_CONNECTION of the caller, if any: a plan that would cut it is refused. */
  sshConnection?: string;
  /** The caller accepts the SSH risk because the change reverts unless confirmed. */
  confirming?: boolean;
  /** Pending enrollment keys (hub daemon). */
  enrolling?: Enrolling[];
  /** The hub's listening sockets, as the hub daemon just read them (saves apply a second look). */
  listeners?: Listener[];
  /**
   * Count table inet porthole's rules (Host.firewall.nftRuleCount) and load it whole when they are
   * not the ones porthole loaded: `nft flush table inet porthole` empties the chains and keeps the
   * marker. ~0.1 s at 10,000 forwards: for an apply someone asked for, not the daemon's 2 s rounds.
   */
  countRules?: boolean;
}

export interface ApplyResult {
  lines: string[];
  /**
   * Drops in other owners' firewalls that porthole cannot override, each with its fix ("warning: …"
   * lines, then "    fix: …" lines); observed whether or not anything changed.
   */
  warnings: string[];
  changed: boolean;
  plan: HostPlan;
  /**
   * The interface as this apply first observed it: the host as it is now when nothing changed (the hub's
   * watch reads its peers' handshakes from it instead of asking WireGuard again).
   */
  observed: WgState;
}

/** Where a planned file lives on this host (under the context's root). */
const hostPath = (ctx: Context, f: PlannedFile) => join(ctx.root, f.path);

type Subsystem = Step["subsystem"];

const NO_FOREIGN: ForeignSnapshot = { nft: [], xtables: [], iptables: null };

/** How one observation pass looks: the first pass of an apply, or its verify pass. */
interface Pass {
  /** The verify pass: only the subsystems the applied steps touched (the others were just found matching). */
  only?: ReadonlySet<Subsystem>;
  /** The verify pass: the first pass's look at other owners' rulesets, when no pass rule changed. */
  knownForeign?: ForeignSnapshot;
  /** Count table inet porthole's rules too (ApplyRequest.countRules). */
  countRules?: boolean;
}

/** Observes the host and diffs it against the plan, as `pass` says (see Pass). */
async function observeAndDiff(
  ctx: Context,
  spec: Spec,
  plan: HostPlan,
  previous: AppliedRecord | null,
  summary: string[],
  { only, knownForeign, countRules }: Pass = {},
) {
  const want = (s: Subsystem) => !only || only.has(s);
  const h = ctx.host;
  const staleRouting = previous?.routing;
  const wantFiles: Record<string, PlannedFile> = Object.fromEntries(
    plan.files.filter((f) => !(ctx.leaveUnit && f.purpose === "unit")).map((f) => [hostPath(ctx, f), f]),
  );
  // Read-only and independent: observed side by side (each is a process or two; the sum was most of a
  // small apply's time).
  const sysctlKeys = want("sysctl") ? Object.keys(plan.sysctl) : [];
  const filePathList = want("files") ? Object.keys(wantFiles) : [];
  // Only the hub's path is judged (and passed); a peer's forwarding (Docker's) is not porthole's.
  const foreignKnown =
    plan.role !== "hub" ? NO_FOREIGN : knownForeign && !(only?.has("passes") ?? true) ? knownForeign : null;
  // All three wanted (a hub's first pass, every 2 s in its daemon): one look, fewer processes.
  const look = want("nftables") && want("firewall") && !foreignKnown ? h.firewall.observe() : null;
  const marked = look ? look.then((l) => l.nft) : want("nftables") ? h.firewall.observeNft() : undefined;
  // The table's rules counted (ApplyRequest.countRules): its marker survives emptied chains.
  const counted = countRules && plan.firewall.nft ? h.firewall.nftRuleCount() : null;
  const [wg, nft, iptables, foreign, sysctlValues, routingPresent, fileTexts] = await Promise.all([
    want("wireguard") ? h.wg.observe(plan.wireguard.interface) : Promise.resolve(null),
    marked === undefined
      ? Promise.resolve(undefined)
      : Promise.all([marked, counted]).then(([n, rules]) =>
          n && typeof rules === "number" ? { ...n, rules } : n,
        ),
    look
      ? look.then((l) => l.iptables)
      : want("firewall")
        ? h.firewall.observeIptables()
        : Promise.resolve(null),
    foreignKnown ?? (look ? look.then((l) => l.foreign) : h.firewall.observeForeign()),
    Promise.all(sysctlKeys.map((k) => h.sysctl.get(k))),
    !want("routing")
      ? Promise.resolve(false)
      : plan.routing
        ? h.routing.observe(plan.routing)
        : staleRouting
          ? h.routing.observe(staleRouting)
          : Promise.resolve(false),
    Promise.all(filePathList.map((p) => h.files.read(p))),
  ]);
  const sysctl: Record<string, string | null> = Object.fromEntries(
    sysctlKeys.map((k, i) => [k, sysctlValues[i] ?? null]),
  );
  const haveFiles: Record<string, string | null> = Object.fromEntries(
    filePathList.map((p, i) => [p, fileTexts[i] ?? null]),
  );

  const { steps: foreignSteps, findings } = diffForeign(plan, spec, foreign);
  const steps: Step[] = [
    // The interface first: some sysctl keys (rp_filter) belong to it.
    ...(wg ? diffWireguard(plan.wireguard, wg, previous?.endpoints, previous?.peerNames) : []),
    ...(want("sysctl") ? diffSysctl(plan.sysctl, sysctl) : []),
    ...(nft !== undefined ? diffNft(plan.firewall, nft, previous?.firewall ?? null, summary) : []),
    ...(iptables ? diffIptables(plan.firewall, iptables, previous?.firewall ?? null, summary) : []),
    ...foreignSteps,
    ...(want("routing") ? diffRouting(plan.routing, routingPresent, staleRouting) : []),
    ...(want("files") ? diffFiles(wantFiles, haveFiles) : []),
  ];
  return { steps, wg, sysctl, foreign, findings, nft, iptables };
}

/** What the verify pass looks at again: the subsystems the steps touched (sysctl with the interface, whose keys it owns). */
function touched(steps: Step[]): Set<Subsystem> {
  const s = new Set(steps.map((x) => x.subsystem));
  if (s.has("wireguard")) s.add("sysctl");
  return s;
}

function specOf(text: string): Spec | null {
  const r = loadSpec(text);
  return r.ok ? r.spec : null;
}

/**
 * The forward changes since the last apply ("+ forward web tcp/80 → rpi:8080"), computed once per apply
 * (the verify pass reuses them): parsing the previously applied spec is the costly part with thousands
 * of forwards, and needless when the text has not changed.
 */
function forwardSummary(previous: AppliedRecord | null, req: ApplyRequest): string[] {
  if (previous && previous.specText === req.specText) return [];
  return forwardChanges(previousSpec(previous), req.spec);
}

/** The spec applied last (null: none, or it no longer parses); parsed at most once per text. */
function previousSpec(previous: AppliedRecord | null): Spec | null {
  if (!previous) return null;
  if (lastApplied?.text === previous.specText) return lastApplied.spec;
  if (lastParsed?.text !== previous.specText)
    lastParsed = { text: previous.specText, spec: specOf(previous.specText) };
  return lastParsed.spec;
}

/** The previously applied spec as last parsed (an apply asks for it up to three times). */
let lastParsed: { text: string; spec: Spec | null } | null = null;

/**
 * The step that forgets tracked flows of public ports whose forward changed (see flows.ts), if any
 * (hub only). `held`: the kernel held the ruleset applied last.
 */
function flowStep(
  plan: HostPlan,
  previous: AppliedRecord | null,
  req: ApplyRequest,
  held: boolean,
): Step | null {
  if (plan.role !== "hub" || (held && previous?.specText === req.specText)) return null;
  const ports = portsToForget(previousSpec(previous), req.spec, held);
  const tunnel = plan.wireguard.addresses.map((a) => a.split("/")[0] as string);
  return ports.length ? forgetStep(ports, tunnel) : null;
}

/** A forward newly claiming a public port that a service on the hub listens on fails the apply, unless forced. */
async function refuseShadowing(
  host: Host,
  spec: Spec,
  claims: Spec["forwards"],
  seen: Listener[] | undefined,
): Promise<void> {
  const shadows = await findShadows(host, spec.hub, claims, seen);
  if (!shadows.length) return;
  throw new ApplyError(
    `refusing to apply: a service on the hub listens on a forward's public port:\n${shadows.map((s) => `  forward "${s.forward}": ${describeShadow(s)}`).join("\n")}\nthe forward would cut that service off from the internet. Pick another public port, stop the service, or, if the forward should take the port over, set shadowHubService: true on the forward`,
    false,
  );
}

/**
 * The plan this process compiled last, by its inputs. A daemon reconciles the same spec object (the
 * store keeps it while the file's text is unchanged) every 2 s: with 10,000 forwards each new plan cost
 * ~20 ms of compile, ~1 MB of ruleset text rendered again for its marker, and several MB of garbage that
 * kept the daemon's heap large. Plans are read-only to their users.
 */
let lastPlan: { spec: Spec; key: string; plan: HostPlan } | null = null;

function compiled(spec: Spec, hostName: string, opts: CompileOptions): HostPlan {
  const key = JSON.stringify([hostName, opts]);
  if (lastPlan?.spec === spec && lastPlan.key === key) return lastPlan.plan;
  const plan = compile(spec, hostName, opts);
  lastPlan = { spec, key, plan };
  return plan;
}

/** The spec this process applied last (a daemon applies again and again: no need to parse it back). */
let lastApplied: { text: string; spec: Spec } | null = null;

/**
 * One apply or down at a time on a host: a peer's agent and a command (`expose` applies the peer's
 * part too) would otherwise observe the same state and both take the same steps, and the second's
 * would fail (a route already removed) or undo the first's. Waits up to APPLY_LOCK_MS for the other.
 */
const APPLY_LOCK_MS = 120_000;
const applyLock = <T>(ctx: Context, fn: () => Promise<T>) =>
  ctx.host.files.lock(join(ctx.stateDir, "apply.lock"), fn, APPLY_LOCK_MS);

export function apply(ctx: Context, req: ApplyRequest): Promise<ApplyResult> {
  return applyLock(ctx, () => applyLocked(ctx, req));
}

async function applyLocked(ctx: Context, req: ApplyRequest): Promise<ApplyResult> {
  const log = ctx.log ?? (() => {});
  // The state file is read while compile runs (its I/O overlaps the CPU work); awaited after the key check.
  const previousRead = readApplied(ctx.host, ctx.stateDir);
  previousRead.catch(() => {}); // a failure surfaces at the await below, not as an unhandled rejection
  // What an apply killed midway had started (its sysctl values from before porthole, for `down`).
  const leftoverRead = readIntent(ctx.host, ctx.stateDir);
  leftoverRead.catch(() => {});
  const plan = compiled(req.spec, req.hostName, {
    keyFile: ctx.keyFile,
    enrolling: req.enrolling,
    unit: { bin: ctx.bin, env: ctx.unitEnv, kind: ctx.service },
  });
  await checkKey(ctx, plan);
  const previous = await previousRead;
  const summary = plan.role === "hub" ? forwardSummary(previous, req) : [];
  // Read-only like observing, so the two run side by side; nothing changes before both are done.
  const shadowing =
    plan.role !== "hub" || previous?.specText === req.specText
      ? Promise.resolve()
      : refuseShadowing(ctx.host, req.spec, newClaims(previousSpec(previous), req.spec), req.listeners);
  shadowing.catch(() => {}); // surfaces at the await below
  const first = await observeAndDiff(ctx, req.spec, plan, previous, summary, { countRules: req.countRules });
  const warnings = warningLines(first.findings);
  await shadowing;
  const { sysctl } = first;
  // Last: flows are forgotten once every rule they should meet is in place.
  const forget = flowStep(
    plan,
    previous,
    req,
    heldPrevious(previous?.firewall ?? null, first.nft, first.iptables),
  );
  const steps = forget ? [...first.steps, forget] : first.steps;
  const wg = first.wg as WgState; // the first pass observes every subsystem
  const lines = steps.map((s) => s.text);
  const endpoints = { ...previous?.endpoints, ...seenEndpoints(wg) };
  // Only porthole's own state file: a hub restarted later reaches its peers where they are now.
  if (!req.dryRun && steps.length === 0)
    await saveEndpoints(ctx.host, ctx.stateDir, previous, seenEndpoints(wg));
  // A tunnel address whose network another interface here uses: refused before anything changes.
  const clash = await subnetClash(
    ctx.host,
    plan.wireguard.interface,
    plan.wireguard.addresses.filter((a) => !wg.addresses.includes(a)),
    (f) => `${f === 4 ? "hub.subnet" : "hub.subnet6"}${plan.role === "hub" ? "" : " on the hub"}`,
  );
  if (clash && "warn" in clash) warnings.push(clash.warn);
  else if (clash && req.dryRun) warnings.push(`apply would refuse: ${clash.refuse}`);
  else if (clash) throw new ApplyError(`refusing to apply: ${clash.refuse}; nothing was changed`, false);
  if (req.dryRun || steps.length === 0) return { lines, warnings, changed: false, plan, observed: wg };

  const cut = checkSshPath(req.sshConnection, plan, wg);
  if (cut && !req.confirming) {
    throw new ApplyError(
      `refusing to apply: ${cut}.\nIf you mean it, run with --confirm SECONDS: the change reverts by itself unless you run \`porthole confirm\` in time.`,
      false,
    );
  }

  const leftover = await leftoverRead;
  const sysctlBefore = { ...leftover?.sysctlBefore, ...previous?.sysctlBefore };
  for (const [k, v] of Object.entries(sysctl)) if (v !== null && !(k in sysctlBefore)) sysctlBefore[k] = v;
  const record: AppliedRecord = {
    host: plan.host,
    role: plan.role,
    specText: req.specText,
    appliedAt: new Date().toISOString(),
    wgInterface: plan.wireguard.interface,
    firewall: plan.firewall,
    routing: plan.routing,
    sysctlBefore,
    // The unit too when this daemon leaves it alone: `down` removes what porthole installed.
    files: plan.files.map((f) => hostPath(ctx, f)),
    endpoints,
    peerNames: Object.fromEntries(plan.wireguard.peers.map((p) => [p.publicKey, p.name])),
  };
  // Steps that create the interface or routing: `down` must find them even if this process dies midway.
  const intent = steps.some((s) => s.subsystem === "wireguard" || s.subsystem === "routing");
  if (intent) await writeIntent(ctx.host, ctx.stateDir, { ...record, specText: "" });

  for (const line of lines) log(line);
  // After a rollback, flows tracked while the new rules held are forgotten again.
  const forgetAgain = async () => {
    const note = forget ? await forget.run(ctx.host) : "";
    if (note) log(`  ${note}`);
  };
  try {
    await runSteps(ctx.host, steps, log);
  } catch (e) {
    await forgetAgain();
    if (intent && !leftover) await clearIntent(ctx.host, ctx.stateDir);
    throw e;
  }
  const verify = await observeAndDiff(ctx, req.spec, plan, previous, summary, {
    only: touched(steps),
    knownForeign: first.foreign,
  });
  if (verify.steps.length) {
    await undoAll(ctx.host, steps, log);
    await forgetAgain();
    if (intent && !leftover) await clearIntent(ctx.host, ctx.stateDir);
    throw new ApplyError(
      `verify failed, the host does not match the plan after applying:\n${verify.steps.map((s) => `  ${s.text}`).join("\n")}\nthe host was put back as it was before this apply`,
      true,
    );
  }
  await writeApplied(ctx.host, ctx.stateDir, record);
  if (intent || leftover) await clearIntent(ctx.host, ctx.stateDir);
  lastApplied = { text: req.specText, spec: req.spec };
  return { lines, warnings, changed: true, plan, observed: wg };
}

const seenEndpoints = (wg: WgState) =>
  Object.fromEntries(wg.peers.filter((p) => p.endpoint).map((p) => [p.publicKey, p.endpoint as string]));

async function checkKey(ctx: Context, plan: HostPlan): Promise<void> {
  const text = (await ctx.host.files.read(ctx.keyFile))?.trim();
  if (!text) {
    throw new ApplyError(
      `no private key at ${ctx.keyFile}: create it with \`porthole keygen --write ${ctx.keyFile}\` (mode 0600; it prints the public key) and put that public key in the spec for "${plan.host}"`,
      false,
    );
  }
  const problem = keyProblem(text, "private");
  if (problem) throw new ApplyError(`${ctx.keyFile}: the private key ${problem}`, false);
  const pub = publicKeyOf(text);
  if (pub !== plan.wireguard.publicKey) {
    throw new ApplyError(
      `${ctx.keyFile} belongs to public key ${pub}, but the spec gives "${plan.host}" the key ${plan.wireguard.publicKey}; fix the spec or use --host for the right machine`,
      false,
    );
  }
}

/**
 * Removes everything porthole created on this host, and nothing else, from any state porthole can
 * leave a host in: applied, half-applied (a killed apply leaves its intent record), interface already
 * gone, a previous `down` cut short. Every part is tried; the record is kept (so `down` can run again)
 * only when a part failed, and then the error names each failed part. Returns the lines done.
 * `keepFiles` (porthole's unit stopping) takes the running state down (interface, rules, routes,
 * sysctl values) but keeps the unit and sysctl files and the records, so the next start or boot
 * restores it and a later `down` still knows the files.
 */
export function down(ctx: Context, opts: { keepFiles?: boolean } = {}): Promise<string[]> {
  return applyLock(ctx, () => downLocked(ctx, opts));
}

async function downLocked(ctx: Context, opts: { keepFiles?: boolean }): Promise<string[]> {
  const h = ctx.host;
  const log = ctx.log ?? (() => {});
  const records = [await readApplied(h, ctx.stateDir), await readIntent(h, ctx.stateDir)].filter(
    (r): r is AppliedRecord => r !== null,
  );
  const lines: string[] = [];
  const failed: string[] = [];
  const part = async (what: string, fn: () => Promise<string | null>) => {
    try {
      const line = await fn();
      if (line) lines.push(line);
    } catch (e) {
      failed.push(`${what}: ${(e as Error).message}`);
    }
  };
  const fw = await observeFirewall(h.firewall);
  if (fw.nft !== null)
    await part("nftables table inet porthole", async () => {
      await h.firewall.removeNft();
      return "- nftables table inet porthole";
    });
  for (const hook of fw.hooks)
    await part(`iptables hook ${hook.chain}`, async () => {
      await h.firewall.removeHook(hook);
      return null;
    });
  for (const fam of [4, 6] as const) {
    if (fw.iptables[fam] !== null || fw.hooks.some((x) => x.family === fam))
      await part(`${fam === 4 ? "iptables" : "ip6tables"} chains`, async () => {
        await h.firewall.removeIptables(fam);
        return `- ${fam === 4 ? "iptables" : "ip6tables"} PORTHOLE-* chains and hooks`;
      });
  }
  await part("porthole-pass rules", async () =>
    (await h.firewall.removePasses()).length ? "- porthole-pass rules in FORWARD" : null,
  );
  // Flows still translated by the rules just removed would otherwise keep their path until idle.
  const hubSpec = records[0]?.role === "hub" ? specOf(records[0].specText) : null;
  const ports = hubSpec ? portsToForget(null, hubSpec, false) : [];
  if (ports.length)
    await part("conntrack", async () => {
      const note = await h.conntrack.forget(ports, []);
      return `- conntrack: flows to ${describePorts(ports)}${note ? ` (${note})` : ""}`;
    });
  const seen = new Set<string>();
  const once = (key: string) => !seen.has(key) && !!seen.add(key);
  for (const record of records) {
    const { routing } = record;
    if (routing && once(`routing ${routing.table}`))
      await part(`policy routing table ${routing.table}`, async () => {
        if (!(await h.routing.observe(routing))) return null;
        await h.routing.remove(routing);
        return `- policy routing table ${routing.table}`;
      });
    if (once(`interface ${record.wgInterface}`))
      await part(`interface ${record.wgInterface}`, async () => {
        const wg = await h.wg.observe(record.wgInterface);
        if (!wg.exists) return null;
        // Stopping to start again (restart, reboot): where the peers are now, or the hub would
        // restore where a watch round last saw them (a peer that moved since could not be reached).
        if (opts.keepFiles)
          await saveEndpoints(h, ctx.stateDir, await readApplied(h, ctx.stateDir), seenEndpoints(wg));
        await h.wg.destroy(record.wgInterface);
        return `- interface ${record.wgInterface}`;
      });
  }
  for (const record of records) {
    for (const [k, v] of Object.entries(record.sysctlBefore)) {
      if (!once(`sysctl ${k}`)) continue;
      await part(`sysctl ${k}`, async () => {
        const now = await h.sysctl.get(k);
        // null: the key went away with its interface (rp_filter of wg0): nothing to restore.
        if (now === null || now === v) return null;
        await h.sysctl.set(k, v);
        return `~ sysctl ${k} = ${v} (as before porthole)`;
      });
    }
    for (const f of opts.keepFiles ? [] : record.files) {
      if (!once(`file ${f}`)) continue;
      await part(`file ${f}`, async () => {
        if ((await h.files.read(f)) === null) return null;
        await h.files.remove(f);
        return `- file ${f}`;
      });
    }
  }
  for (const l of lines) log(l);
  if (failed.length)
    throw new ApplyError(
      `down could not remove everything (run it again once fixed):\n${failed.map((f) => `  ${f}`).join("\n")}`,
      false,
    );
  if (records.length && !opts.keepFiles) {
    await writeApplied(h, ctx.stateDir, null);
    await clearIntent(h, ctx.stateDir);
  }
  return lines;
}
