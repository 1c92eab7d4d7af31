// apply, down, confirm: change this host to match the spec, safely.
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { UnknownHostError } from "../compile/compile.ts";
import { unitName } from "../compile/systemd.ts";
import { commandLine } from "../host/command-line.ts";
import { runningDaemon, stopDaemon } from "../host/daemon-pid.ts";
import { hostFiles, pathExists, readText, removeFile } from "../host/files.ts";
import { spawnDetached } from "../host/processes.ts";
import { disableNow, hasSystemd } from "../host/systemd.ts";
import { socketPath } from "../hub/socket-path.ts";
import { peerFile, readIdentity, specFile } from "../peer/local.ts";
import { armPending, confirmPending, revertUnconfirmed } from "../reconcile/confirm.ts";
import { apply, down } from "../reconcile/reconcile.ts";
import { readApplied } from "../reconcile/state.ts";
import { ApplyError } from "../reconcile/steps.ts";
import { count } from "../spec/diagnostics.ts";
import { NameField } from "../spec/fields.ts";
import { loadSpec } from "../spec/load.ts";
import { PathText, valid, wholeNumber } from "./arg.ts";
import { hostContext } from "./context.ts";
import { EXIT, UserError } from "./errors.ts";
import { hub, START_DAEMON } from "./hub-client.ts";
import { configDir, daemonManaged, hubSpecPath, specPath, stateDir } from "./paths.ts";
import { readSpec } from "./spec-file.ts";
import { whoAmI } from "./who-am-i.ts";

interface ApplyOpts {
  host?: string;
  spec?: string;
  dryRun?: boolean;
  confirm?: number;
  fromState?: boolean;
}

async function applyAction(o: ApplyOpts): Promise<void> {
  // A hub run by its daemon: the daemon applies (it also carries pending enrollment keys), when the spec
  // is the daemon's own (a ./porthole.yaml or --spec holding another is refused below).
  if (
    !o.fromState &&
    !o.dryRun &&
    !o.confirm &&
    pathExists(socketPath(stateDir())) &&
    (await daemonsOwn(o.spec))
  ) {
    const r = await hub().apply();
    console.log(
      r.changed
        ? `${r.lines.join("\n")}\nhub: applied ${count(r.lines.length, "change")}, verified`
        : "hub: no changes",
    );
    printWarnings(r.warnings ?? []);
    await noteDaemonStopped("hub");
    return;
  }
  const ctx = hostContext();
  let specText: string;
  let hostName = o.host;
  if (o.fromState) {
    const record = await readApplied(ctx.host, ctx.stateDir);
    // Nothing to work on here, as `status` on a machine that is neither side: a usage error (2).
    if (!record)
      throw new UserError(
        `--from-state: nothing saved in ${ctx.stateDir} yet; run apply with a spec first`,
        EXIT.usage,
      );
    specText = record.specText;
    hostName ??= record.host;
  } else {
    const given = readSpec(o.spec);
    specText = given.text;
    if (!o.dryRun) {
      const why = await otherThanDaemonsSpec(o.spec === undefined ? "apply" : "--spec", given.file, specText);
      if (why) throw new UserError(why, EXIT.usage);
    }
  }
  const loaded = loadSpec(specText);
  if (!loaded.ok) throw new UserError(loaded.report);
  hostName ??= await whoAmI(loaded.spec, ctx.keyFile);
  if (!hostName)
    throw new UserError(
      '--host: which machine is this? give the hub\'s name (or "hub") or a peer name',
      EXIT.usage,
    );
  const seconds = o.confirm;
  try {
    // A hub run by its daemon carries its pending join tokens' one-time keys: an apply here (a dry run,
    // --confirm) keeps them, as the daemon's own does; without them its plan removed every one.
    const { RuntimeStore, activeEnrolling } = await import("../hub/runtime.ts");
    const store = new RuntimeStore(hostFiles, stateDir());
    const runtime = await store.load().catch((e: Error) => {
      // Without its tokens' keys the plan removes them, and every pending join would fail.
      const why = `${store.path} (the pending join tokens) cannot be read: ${e.message}`;
      if (!o.dryRun)
        throw new UserError(
          `refusing to apply: ${why}; fix or remove it (its tokens are then gone: \`porthole peer add\` again). Nothing was changed`,
        );
      console.error(`warning: ${why}; this plan leaves their one-time keys out`);
      return null;
    });
    const r = await apply(ctx, {
      spec: loaded.spec,
      specText,
      hostName,
      enrolling: runtime ? activeEnrolling(runtime, Date.now()) : undefined,
      dryRun: o.dryRun,
      countRules: true,
      sshConnection: process.env.SSH_CONNECTION,
      confirming: seconds !== undefined,
    });
    if (o.dryRun) {
      console.log(
        r.lines.length
          ? `${r.lines.join("\n")}\n(dry run: ${count(r.lines.length, "change")} not applied)`
          : "no changes",
      );
      printWarnings(r.warnings);
      return;
    }
    if (!r.changed) {
      console.log(`${r.plan.host}: no changes`);
      printWarnings(r.warnings);
      await noteDaemonStopped(r.plan.role);
      return;
    }
    console.log(`${r.plan.host}: applied ${count(r.lines.length, "change")}, verified`);
    printWarnings(r.warnings);
    await noteDaemonStopped(r.plan.role);
    if (seconds !== undefined) await armRevert(seconds);
  } catch (e) {
    if (e instanceof UnknownHostError) throw new UserError(`--host: ${e.message}`);
    if (e instanceof ApplyError) throw new UserError(e.message, e.rolledBack ? EXIT.host : EXIT.invalid);
    throw e;
  }
}

/**
 * Says (stderr) what an apply on a hub set up with `hub init` leaves undone while its daemon does not
 * run: the apply is the one way to change such a hub without it (`forward add` and the others refuse).
 */
async function noteDaemonStopped(role: "hub" | "peer"): Promise<void> {
  if (role !== "hub" || !daemonManaged()) return;
  if (await runningDaemon(stateDir(), "hub")) return;
  console.error(
    `porthole: the hub daemon is not running: this apply is all that happens (nothing repairs drift, and join tokens and peers' requests get no answer) — ${START_DAEMON}`,
  );
}

/**
 * The spec file a running daemon of `role` keeps this host at: as its pid file says (its environment's
 * $PORTHOLE_SPEC, which may not be this shell's), else where this shell would put it (an older daemon).
 */
const daemonSpec = (role: "hub" | "peer", d: { spec?: string } | null) =>
  d?.spec ?? (role === "hub" ? hubSpecPath() : specFile(configDir()));

/** Whether the spec apply reads (--spec `given`, or where specPath looks) is the hub daemon's own. */
async function daemonsOwn(given: string | undefined): Promise<boolean> {
  const [mine, its] = [specPath(given), daemonSpec("hub", await runningDaemon(stateDir(), "hub"))];
  if (resolve(mine) === resolve(its)) return true;
  if (given === undefined) return false;
  // Two files that cannot be read are not the same spec: the given one's problem is said where it is read.
  const text = await readText(given).catch(() => null);
  return text !== null && text === (await readText(its).catch(() => null));
}

/**
 * Why an apply of `file` (holding `text`; `label`: the option that named it) does not run here, or undefined: a hub daemon or peer agent
 * runs and keeps this host at its own spec file, so another spec would last until its next reconcile
 * (2 s on the hub), printed as applied and verified all the same.
 */
async function otherThanDaemonsSpec(label: string, file: string, text: string): Promise<string | undefined> {
  for (const role of ["hub", "peer"] as const) {
    const d = await runningDaemon(stateDir(), role);
    if (!d) continue;
    const own = daemonSpec(role, d);
    if ((await readText(own)) === text) return undefined;
    const how =
      role === "hub"
        ? `to change this hub, edit ${own} (the daemon applies an edit within 2 s; \`porthole validate --spec ${own}\` first) or use \`porthole forward add|rm\` and \`porthole peer add|rm\``
        : "a joined peer's changes come from the hub: `porthole expose` and `porthole unexpose` here, or the hub's admin";
    return `${label}: ${role === "hub" ? "the hub daemon" : "the peer agent"} (pid ${d.pid}) keeps this host at its own spec, ${own}, and would put back what an apply of ${file} changes; ${how}; nothing was changed`;
  }
  return undefined;
}

/** Drops in other owners' firewalls that porthole cannot override, with their fixes (stdout: part of the result). */
export function printWarnings(warnings: string[]): void {
  if (warnings.length) console.log(warnings.join("\n"));
}

/** Starts a detached process that reverts to the previous state unless `porthole confirm` runs first. */
async function armRevert(seconds: number): Promise<void> {
  const token = `${Date.now()}-${process.pid}`;
  const pid = spawnDetached([
    process.execPath,
    process.argv[1] as string,
    "revert-unconfirmed",
    token,
    String(seconds),
  ]);
  const { host } = hostContext();
  await armPending(host, stateDir(), { token, pid, deadline: Date.now() + seconds * 1000 });
  console.log(`will revert in ${seconds} s unless you run \`porthole confirm\``);
}

/** The detached waiter started by armRevert: sleeps, then reverts unless confirmed meanwhile. */
async function revertAction(token: string, seconds: number): Promise<void> {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await revertUnconfirmed(hostContext(), token);
}

async function confirmAction(): Promise<void> {
  const pending = await confirmPending(hostContext().host, stateDir());
  if (!pending) throw new UserError("nothing to confirm: no apply --confirm is waiting", EXIT.usage);
  const { pid } = pending;
  try {
    // The waiter, if it still runs (a recycled pid running something else is left alone).
    if (pid !== undefined && commandLine(pid)?.includes("revert-unconfirmed")) process.kill(pid);
  } catch {
    // already gone
  }
  console.log("confirmed: the applied state stays");
}

/**
 * `porthole down`: the daemons stand down first (a running agent or hub daemon would repair what is
 * being removed), then everything porthole made goes. A peer's identity goes first of all, so an agent
 * that cannot be signalled stops at its next tick.
 */
async function downAction(o: { keepFiles?: boolean }): Promise<void> {
  const ctx = hostContext();
  if (o.keepFiles) {
    // Run by porthole's own oneshot unit as it stops: no systemctl here (it would wait for this very
    // stop). That unit runs no daemon; with one running, its next reconcile (2 s) would put back what
    // this removes, so it is refused, with the way to stop that daemon instead.
    for (const role of ["hub", "peer"] as const) {
      const d = await runningDaemon(stateDir(), role);
      if (d) throw new UserError(keepFilesRefusal(role, d.pid), EXIT.usage);
    }
    const lines = await down(ctx, { keepFiles: true });
    if (!lines.length) console.log("nothing of porthole's is running on this host");
    return;
  }
  const id = await readIdentity(hostFiles, stateDir());
  if (id) await removeFile(peerFile(stateDir()));
  const stopped: string[] = [];
  for (const role of ["peer", "hub"] as const) {
    if (hasSystemd() && pathExists(join(ctx.root, "etc/systemd/system", unitName(role))))
      await disableNow(unitName(role));
    const pid = await stopDaemon(stateDir(), role);
    if (pid !== null)
      stopped.push(`- stopped the ${role === "hub" ? "hub daemon" : "peer agent"} (pid ${pid})`);
  }
  for (const l of stopped) console.log(l);
  let lines: string[];
  try {
    lines = await down(ctx);
  } catch (e) {
    if (e instanceof ApplyError) throw new UserError(e.message, EXIT.host);
    throw e;
  }
  // A join killed outright left its enrollment tunnel, which no apply record names.
  const { removeLeftoverEnrollment } = await import("../peer/join.ts");
  const leftover = await removeLeftoverEnrollment(ctx.host, stateDir());
  for (const l of leftover) console.log(l);
  lines.push(...leftover);
  if (id) {
    await removeFile(specFile(configDir()));
    console.log(
      `- left hub ${id.api} as "${id.name}" (ask the hub's admin to \`porthole peer rm ${id.name}\`)`,
    );
  } else if (!lines.length && !stopped.length) console.log("nothing of porthole's is on this host");
}

/** Why `down --keep-files` does not run beside a daemon, and what stops the daemon instead. */
function keepFilesRefusal(role: "hub" | "peer", pid: number): string {
  const who = role === "hub" ? "the hub daemon" : "the peer agent";
  return [
    `down --keep-files: ${who} is running (pid ${pid}) and would put back what this removes within 2 s;`,
    `stop it instead: \`systemctl stop ${unitName(role)}\` takes the tunnel and forwarding down and keeps the files`,
    `(\`systemctl start\` restores them; under your own supervisor, stop \`porthole ${role} run --down-on-stop\` there),`,
    "or `porthole down` stops it and removes everything. Nothing was changed.",
  ].join(" ");
}

export function registerApplyCommands(program: Command): void {
  program
    .command("apply")
    .description(
      "make this host match the spec: observe, show the plan, apply, verify (rolled back on failure)",
    )
    .option(
      "--host <name>",
      'which host this machine is: "hub" or a peer name (default: the one whose key this machine holds)',
      valid("--host", NameField),
    )
    .option("--spec <file>", "the spec", valid("--spec", PathText))
    .option("--dry-run", "print the plan and change nothing")
    .option(
      "--confirm <seconds>",
      "revert by itself unless `porthole confirm` runs within SECONDS (5-3600)",
      valid("--confirm", wholeNumber(5, 3600)),
    )
    .option("--from-state", "re-apply what was applied last (what the systemd unit runs at boot)")
    .action(applyAction);
  program
    .command("down")
    .description(
      "remove everything porthole created on this host (interface, rules, routes, files), and nothing else",
    )
    .option(
      "--keep-files",
      "take the running state down but keep the unit and sysctl files, the identity and the records (what stopping porthole's oneshot unit runs: a start restores; refused while a hub daemon or peer agent runs, which would put it back)",
    )
    .action(downAction);
  program.command("confirm").description("keep the state applied with apply --confirm").action(confirmAction);
  program
    .command("revert-unconfirmed", { hidden: true })
    .argument("<TOKEN>")
    .argument("<SECONDS>", "", valid("SECONDS", wholeNumber(5, 3600)))
    .action(revertAction);
}
