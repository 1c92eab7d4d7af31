// observe -> diff -> apply -> verify, rolled back as a whole when any step or the verify fails.
import { join } from "node:path";
import { compile } from "../compile/compile.ts";
import type { Enrolling, HostPlan } from "../compile/plan.ts";
import { renderSysctl, SYSCTL_FILE } from "../compile/render.ts";
import { systemdUnit, unitName } from "../compile/systemd.ts";
import type { Host, WgState } from "../host/types.ts";
import { keyProblem, publicKeyOf } from "../net/wgkey.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { diffIptables, diffNft, observeFirewall } from "./firewall.ts";
import { checkSshPath } from "./ssh-guard.ts";
import { type AppliedRecord, readApplied, writeApplied } from "./state.ts";
import { ApplyError, runSteps, type Step, undoAll } from "./steps.ts";
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
}

export interface ApplyResult {
  lines: string[];
  changed: boolean;
  plan: HostPlan;
}

const filePaths = (ctx: Context, role: "hub" | "peer") => ({
  sysctl: join(ctx.root, "etc/sysctl.d", SYSCTL_FILE),
  unit: join(ctx.root, "etc/systemd/system", unitName(role)),
});

type Subsystem = Step["subsystem"];

/**
 * Observes the host and diffs it against the plan. `only` (the verify pass) limits both to the
 * subsystems the applied steps touched: the others were not changed by this apply, and were just
 * found matching the plan. `foreignDrop` (the verify pass) reuses the first pass's look at other
 * owners' chain policies, which porthole's steps do not change.
 */
async function observeAndDiff(
  ctx: Context,
  plan: HostPlan,
  previous: AppliedRecord | null,
  summary: string[],
  only?: ReadonlySet<Subsystem>,
  knownForeignDrop?: string[],
) {
  const want = (s: Subsystem) => !only || only.has(s);
  const h = ctx.host;
  const staleRouting = previous?.routing;
  const paths = filePaths(ctx, plan.role);
  const wantFiles: Record<string, string | null> = {
    [paths.sysctl]: Object.keys(plan.sysctl).length ? renderSysctl(plan.sysctl) : null,
    [paths.unit]: systemdUnit(plan.role, plan.host, ctx.bin, ctx.unitEnv, ctx.service),
  };
  // Read-only and independent: observed side by side (each is a process or two; the sum was most of a
  // small apply's time).
  const sysctlKeys = want("sysctl") ? Object.keys(plan.sysctl) : [];
  const filePathList = want("files") ? Object.keys(wantFiles) : [];
  const [wg, nft, iptables, foreignDrop, sysctlValues, routingPresent, fileTexts] = await Promise.all([
    want("wireguard") ? h.wg.observe(plan.wireguard.interface) : Promise.resolve(null),
    want("nftables") ? h.firewall.observeNft() : Promise.resolve(undefined),
    want("firewall") ? h.firewall.observeIptables() : Promise.resolve(null),
    !want("firewall")
      ? Promise.resolve([] as string[])
      : knownForeignDrop
        ? Promise.resolve(knownForeignDrop)
        : plan.firewall.backend === "nftables" && plan.firewall.nft
          ? h.firewall.foreignForwardDrop()
          : Promise.resolve([] as string[]),
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

  const steps: Step[] = [
    // The interface first: some sysctl keys (rp_filter) belong to it.
    ...(wg ? diffWireguard(plan.wireguard, wg, previous?.endpoints) : []),
    ...(want("sysctl") ? diffSysctl(plan.sysctl, sysctl) : []),
    ...(nft !== undefined ? diffNft(plan.firewall, nft, previous?.firewall ?? null, summary) : []),
    ...(iptables
      ? diffIptables(
          plan.firewall,
          iptables,
          previous?.firewall ?? null,
          summary,
          plan.wireguard.interface,
          foreignDrop,
        )
      : []),
    ...(want("routing") ? diffRouting(plan.routing, routingPresent, staleRouting) : []),
    ...(want("files") ? diffFiles(wantFiles, haveFiles) : []),
  ];
  return { steps, wg, sysctl, foreignDrop };
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
  if (!previous) return forwardChanges(null, req.spec);
  const known = lastApplied?.text === previous.specText ? lastApplied.spec : specOf(previous.specText);
  return forwardChanges(known, req.spec);
}

/** The spec this process applied last (a daemon applies again and again: no need to parse it back). */
let lastApplied: { text: string; spec: Spec } | null = null;

export async function apply(ctx: Context, req: ApplyRequest): Promise<ApplyResult> {
  const log = ctx.log ?? (() => {});
  // The state file is read while compile runs (its I/O overlaps the CPU work); awaited after the key check.
  const previousRead = readApplied(ctx.host, ctx.stateDir);
  previousRead.catch(() => {}); // a failure surfaces at the await below, not as an unhandled rejection
  const plan = compile(req.spec, req.hostName, { keyFile: ctx.keyFile, enrolling: req.enrolling });
  await checkKey(ctx, plan);
  const previous = await previousRead;
  const summary = plan.role === "hub" ? forwardSummary(previous, req) : [];
  const first = await observeAndDiff(ctx, plan, previous, summary);
  const { steps, sysctl } = first;
  const wg = first.wg as WgState; // the first pass observes every subsystem
  const lines = steps.map((s) => s.text);
  const endpoints = { ...previous?.endpoints, ...seenEndpoints(wg) };
  if (
    !req.dryRun &&
    steps.length === 0 &&
    previous &&
    JSON.stringify(endpoints) !== JSON.stringify(previous.endpoints ?? {})
  ) {
    await writeApplied(ctx.host, ctx.stateDir, { ...previous, endpoints }); // only porthole's own state file
  }
  if (req.dryRun || steps.length === 0) return { lines, changed: false, plan };

  const cut = checkSshPath(req.sshConnection, req.spec, plan, wg);
  if (cut && !req.confirming) {
    throw new ApplyError(
      `refusing to apply: ${cut}.\nIf you mean it, run with --confirm SECONDS: the change reverts by itself unless you run \`porthole confirm\` in time.`,
      false,
    );
  }

  for (const line of lines) log(line);
  await runSteps(ctx.host, steps, log);
  const verify = await observeAndDiff(ctx, plan, previous, summary, touched(steps), first.foreignDrop);
  // Notes such as "+ pass" stay once applied; anything else left over means the host did not take the plan.
  if (verify.steps.length) {
    await undoAll(ctx.host, steps, log);
    throw new ApplyError(
      `verify failed, the host does not match the plan after applying:\n${verify.steps.map((s) => `  ${s.text}`).join("\n")}\nthe host was put back as it was before this apply`,
      true,
    );
  }
  const sysctlBefore = { ...previous?.sysctlBefore };
  for (const [k, v] of Object.entries(sysctl)) if (v !== null && !(k in sysctlBefore)) sysctlBefore[k] = v;
  const paths = filePaths(ctx, plan.role);
  await writeApplied(ctx.host, ctx.stateDir, {
    host: plan.host,
    role: plan.role,
    specText: req.specText,
    appliedAt: new Date().toISOString(),
    wgInterface: plan.wireguard.interface,
    firewall: plan.firewall,
    routing: plan.routing,
    sysctlBefore,
    files: Object.values(paths),
    endpoints,
  });
  lastApplied = { text: req.specText, spec: req.spec };
  return { lines, changed: true, plan };
}

const seenEndpoints = (wg: WgState) =>
  Object.fromEntries(wg.peers.filter((p) => p.endpoint).map((p) => [p.publicKey, p.endpoint as string]));

async function checkKey(ctx: Context, plan: HostPlan): Promise<void> {
  const text = (await ctx.host.files.read(ctx.keyFile))?.trim();
  if (!text) {
    throw new ApplyError(
      `no private key at ${ctx.keyFile}: create it with \`porthole keygen > ${ctx.keyFile}\` (mode 0600) and put its public key (\`porthole pubkey < ${ctx.keyFile}\`) in the spec for "${plan.host}"`,
      false,
    );
  }
  const problem = keyProblem(text);
  if (problem) throw new ApplyError(`${ctx.keyFile}: the private key ${problem}`, false);
  const pub = publicKeyOf(text);
  if (pub !== plan.wireguard.publicKey) {
    throw new ApplyError(
      `${ctx.keyFile} belongs to public key ${pub}, but the spec gives "${plan.host}" the key ${plan.wireguard.publicKey}; fix the spec or use --host for the right machine`,
      false,
    );
  }
}

/** Removes everything porthole created on this host, and nothing else. */
export async function down(ctx: Context): Promise<string[]> {
  const h = ctx.host;
  const log = ctx.log ?? (() => {});
  const record = await readApplied(h, ctx.stateDir);
  const lines: string[] = [];
  const fw = await observeFirewall(h.firewall);
  if (fw.nft !== null) {
    await h.firewall.removeNft();
    lines.push("- nftables table inet porthole");
  }
  for (const hook of fw.hooks) await h.firewall.removeHook(hook);
  for (const fam of [4, 6] as const) {
    if (fw.iptables[fam] !== null || fw.hooks.some((x) => x.family === fam)) {
      await h.firewall.removeIptables(fam);
      lines.push(`- ${fam === 4 ? "iptables" : "ip6tables"} PORTHOLE-* chains and hooks`);
    }
  }
  if (fw.passes.length) {
    await h.firewall.removePasses();
    lines.push("- porthole-pass rules in FORWARD");
  }
  if (record) {
    if (record.routing && (await h.routing.observe(record.routing))) {
      await h.routing.remove(record.routing);
      lines.push(`- policy routing table ${record.routing.table}`);
    }
    if ((await h.wg.observe(record.wgInterface)).exists) {
      await h.wg.destroy(record.wgInterface);
      lines.push(`- interface ${record.wgInterface}`);
    }
    for (const [k, v] of Object.entries(record.sysctlBefore)) {
      if ((await h.sysctl.get(k)) !== v) {
        await h.sysctl.set(k, v);
        lines.push(`~ sysctl ${k} = ${v} (as before porthole)`);
      }
    }
    for (const f of record.files) {
      if ((await h.files.read(f)) !== null) {
        await h.files.remove(f);
        lines.push(`- file ${f}`);
      }
    }
    await writeApplied(h, ctx.stateDir, null);
  }
  for (const l of lines) log(l);
  return lines;
}
