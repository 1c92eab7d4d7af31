// `porthole uninstall`: everything porthole put on this machine goes, except (without --purge) the
// private key and the spec, so a reinstall picks up the same identity.
import { join } from "node:path";
import type { Command } from "commander";
import { SYSCTL_FILE } from "../compile/render.ts";
import { unitName } from "../compile/systemd.ts";
import { stopDaemon } from "../host/daemon-pid.ts";
import { hostFiles, listDir, readText, removeFile, removeTree } from "../host/files.ts";
import { daemonReload, disableNow, hasSystemd, unitInUse } from "../host/systemd.ts";
import { readIdentity } from "../peer/local.ts";
import { down } from "../reconcile/reconcile.ts";
import { ApplyError } from "../reconcile/steps.ts";
import { hostContext } from "./context.ts";
import { EXIT, UserError } from "./errors.ts";
import { configDir, stateDir } from "./paths.ts";

const KEPT = ["private.key", "porthole.yaml"];

/** Removes porthole from this host; `print` gets one line per thing removed or kept. */
export async function uninstall(o: { purge?: boolean }, print: (l: string) => void): Promise<void> {
  const ctx = hostContext(print);
  const roles = ["hub", "peer"] as const;
  // What the two directories hold before this command runs: porthole makes them (empty) as it starts,
  // and `down` takes its lock in the state directory, so an empty one is no sign of porthole's.
  const [stateHeld, confHeld] = await Promise.all([listDir(stateDir()), listDir(configDir())]);
  const id = await readIdentity(hostFiles, stateDir());
  let removedAny = false;
  const said = (l: string) => {
    removedAny = true;
    print(l);
  };
  // The daemons first: a running one would put back what `down` removes.
  for (const role of roles) {
    const unit = unitName(role);
    if (hasSystemd()) {
      const use = await unitInUse(unit);
      if (use.active || use.enabled) {
        await disableNow(unit);
        said(`- systemd unit ${unit} stopped (which took its tunnel and forwarding down) and disabled`);
      }
    }
    const pid = await stopDaemon(stateDir(), role);
    if (pid !== null) said(`- stopped the ${role === "hub" ? "hub daemon" : "peer agent"} (pid ${pid})`);
  }
  try {
    for (const l of await down({ ...ctx, log: () => {} })) said(l);
  } catch (e) {
    if (e instanceof ApplyError) throw new UserError(e.message, EXIT.host);
    throw e;
  }
  const files = [
    ...roles.map((r) => join(ctx.root, "etc/systemd/system", unitName(r))),
    join(ctx.root, "etc/sysctl.d", SYSCTL_FILE),
  ];
  for (const f of files) {
    if ((await readText(f)) !== null) {
      await removeFile(f);
      said(`- file ${f}`);
    }
  }
  if (hasSystemd()) await daemonReload();
  if ((await removeTree(stateDir())) && stateHeld.length)
    said(`- directory ${stateDir()} (applied state, peer identity, join tokens, API socket)`);
  const conf = configDir();
  if (o.purge) {
    if ((await removeTree(conf)) && confHeld.length) said(`- directory ${conf} (private key, spec)`);
  } else {
    const names = await listDir(conf);
    for (const n of names.filter((x) => !KEPT.includes(x))) {
      await removeTree(join(conf, n));
      said(`- ${join(conf, n)}`);
    }
    const kept = names.filter((x) => KEPT.includes(x)).map((x) => join(conf, x));
    if (kept.length)
      print(`kept: ${kept.join(", ")} (--purge removes ${kept.length === 1 ? "it" : "them"} too)`);
  }
  if (!removedAny) print("nothing of porthole's was on this host");
  if (id) print(`this peer left hub ${id.api}: on the hub, \`porthole peer rm ${id.name}\` removes it there`);
  print("porthole itself: `npm uninstall -g porthole`");
}

export function registerUninstallCommand(program: Command): void {
  program
    .command("uninstall")
    .description(
      "hub or peer: stop and remove the systemd unit, take everything down, remove porthole's files (the private key and spec stay unless --purge)",
    )
    .option("--purge", "also remove the private key and the spec (the config directory)")
    .action((o: { purge?: boolean }) => uninstall(o, (l) => console.log(l)));
}
