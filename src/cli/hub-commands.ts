// On the hub: init, webhook, run (the daemon). peer add|rm|ls: hub-peer-commands.ts; forward: forward-commands.ts;
// status: hub-status.ts.
import { resolve } from "node:path";
import type { Command } from "commander";
import { claimDaemon, DaemonRunning, runningDaemon } from "../host/daemon-pid.ts";
import { hostFiles, pathExists, readText, removeFile, writeAtomic } from "../host/files.ts";
import { enableNow, hasSystemd } from "../host/systemd.ts";
import type { IfaceAddress } from "../host/types.ts";
import type { runHub } from "../hub/daemon.ts";
import { RuntimeStore } from "../hub/runtime.ts";
import { parseCidr } from "../net/ip.ts";
import { generatePrivateKey, publicKeyOf } from "../net/wgkey.ts";
import { DEFAULTS } from "../spec/defaults.ts";
import { count } from "../spec/diagnostics.ts";
import { parseEndpoint } from "../spec/endpoint.ts";
import {
  EndpointField,
  NameField,
  PortField,
  PublicInterfaceField,
  SnatPoolField,
  SubnetField,
} from "../spec/fields.ts";
import { poolEndpointProblem, snatPoolProblem, subnetEndpointProblem } from "../spec/hub-rules.ts";
import { FirewallShape } from "../spec/schema.ts";
import { valid, WebhookUrl, wholeNumber } from "./arg.ts";
import { hostContext } from "./context.ts";
import { daemonLogger } from "./daemon-log.ts";
import { EXIT, UserError } from "./errors.ts";
import { givenFileDir } from "./given-file.ts";
import { hub, hubStore, START_DAEMON, waitForDaemon } from "./hub-client.ts";
import { hubSpecPath, keyFile, stateDir } from "./paths.ts";
/** Enables the unit when systemd runs this host; says what to do when it does not. */
export async function startService(unit: string, foreground: string): Promise<void> {
  if (hasSystemd()) {
    await enableNow(unit);
    console.log(`systemd: ${unit} enabled and started`);
  } else {
    console.log(
      `this host does not run systemd: the unit file is written, but start \`${foreground}\` under your own supervisor`,
    );
  }
}

export const STOP_HELP =
  "on SIGTERM/SIGINT take the tunnel and forwarding down (files kept: the next start restores them); the systemd unit sets it";

/** What `--down-on-stop` does when the daemon is told to stop. */
export async function stopForwarding(log: (l: string) => void): Promise<void> {
  const { down } = await import("../reconcile/reconcile.ts");
  const lines = await down(
    hostContext(() => {}),
    { keepFiles: true },
  );
  log(`stopped: ${lines.length ? lines.join("; ") : "nothing of porthole's was running"}`);
}

interface InitOpts {
  endpoint: string;
  listenPort: number;
  subnet: string;
  firewall: string;
  publicInterface: string;
  snatPool: string;
  webhook?: string;
  name: string;
}

/**
 * Why `hub init` refuses on a host that has a hub spec: initialized, or (`applied` false: after
 * `porthole down`, which keeps the spec and key) a spec to bring back with `apply`, not a new init.
 */
export function initRefusal(specFile: string, applied: boolean): string {
  // Run again to change a setting (--webhook, --endpoint…): say where each one changes now.
  if (applied)
    return `${specFile} exists already: this hub is initialized (see porthole status); to change its settings, edit the hub section of ${specFile} (the hub daemon applies an edit within 2 s; a hub without it: \`porthole apply\`), and its webhook with \`porthole hub webhook URL\``;
  return `${specFile} exists already, but nothing of it is applied on this host (as after \`porthole down\`): \`porthole apply\` brings this hub back from it (tunnel, rules, unit file), then start its daemon: \`systemctl enable --now porthole-hub\` (without systemd: \`porthole hub run\` under your own supervisor). To start over instead: \`porthole uninstall --purge\` (the key and spec go too; its peers would have to join again)`;
}

/**
 * Why `--public-interface NAME` cannot be this hub's public interface (no global address on an
 * interface of that name here), or null. `addrs`: every address of this host (`Host.net.addresses`).
 */
export function publicInterfaceProblem(name: string, addrs: IfaceAddress[]): string | null {
  if (addrs.some((a) => a.iface === name && a.scope === "global")) return null;
  const here = [...new Set(addrs.filter((a) => a.scope === "global").map((a) => a.iface))];
  const known = addrs.some((a) => a.iface === name);
  return `--public-interface: "${name}" ${known ? "has no public (global) address" : "is not an interface of this host"}; interfaces with an address here: ${here.join(", ") || "none"} (or "auto": any but the tunnel)`;
}

/**
 * Why `--snat-pool` does not go with `--subnet` and `--endpoint` (each valid alone), or null: checked
 * before the key and spec are written, and named as the options the user typed.
 */
export function initPoolProblem(
  o: Pick<InitOpts, "snatPool" | "subnet" | "endpoint" | "listenPort">,
): string | null {
  const pool = o.snatPool === "off" ? null : parseCidr(o.snatPool);
  if (!pool) return null;
  const subnet = parseCidr(o.subnet) ?? undefined;
  const why = snatPoolProblem(o.snatPool, subnet)?.replace("overlaps hub.subnet", "overlaps --subnet");
  const host = parseEndpoint(o.endpoint, o.listenPort)?.host;
  const endpointWhy = host === undefined ? undefined : poolEndpointProblem(pool, host);
  const problem = why ?? endpointWhy?.replace("the hub's endpoint", "--endpoint");
  return problem ? `--snat-pool: "${o.snatPool}" ${problem}` : null;
}

/** Why `--subnet` does not go with `--endpoint` (it holds the endpoint's address), or null; as initPoolProblem. */
export function initSubnetProblem(o: Pick<InitOpts, "subnet" | "endpoint" | "listenPort">): string | null {
  const subnet = parseCidr(o.subnet);
  const host = parseEndpoint(o.endpoint, o.listenPort)?.host;
  const why = subnet && host !== undefined ? subnetEndpointProblem(subnet, host) : undefined;
  return why ? `--subnet: "${o.subnet}" ${why.replace("the hub's endpoint", "--endpoint")}` : null;
}

async function init(o: InitOpts): Promise<void> {
  const store = await hubStore();
  // $PORTHOLE_SPEC names where the spec goes: a mistyped directory is refused, not made.
  if (process.env.PORTHOLE_SPEC)
    givenFileDir(
      "PORTHOLE_SPEC",
      store.file,
      "unset it (the spec goes to the config directory) or fix the path",
    );
  if ((await readText(store.file)) !== null) {
    const { readApplied } = await import("../reconcile/state.ts");
    const applied = await readApplied(hostContext().host, stateDir());
    throw new UserError(initRefusal(store.file, applied?.role === "hub"));
  }
  // The spec file gone from a hub that runs: a new init would replace the hub, its peers and forwards.
  const missing = await store.missingProblem();
  if (missing)
    throw new UserError(
      `${missing}; \`hub init\` would start a new hub with none of this one's peers and forwards (to start over anyway: \`porthole uninstall --purge\`, then \`porthole hub init\`)`,
    );
  if (o.publicInterface !== "auto") {
    // A name that is not here (eth0 on a VPS whose interface is ens3) matches no packet: every forward
    // would stay silent while apply and status say nothing is wrong.
    const addrs = await hostContext().host.net.addresses();
    const problem = publicInterfaceProblem(o.publicInterface, addrs);
    if (problem) throw new UserError(problem, EXIT.usage);
  }
  // A bad option (exit 2), as one bad alone is (its argParser): here bad beside another option.
  const poolWhy = initSubnetProblem(o) ?? initPoolProblem(o);
  if (poolWhy) throw new UserError(poolWhy, EXIT.usage);
  const port = o.listenPort;
  let key = (await readText(keyFile()))?.trim();
  if (!key) {
    key = generatePrivateKey();
    await writeAtomic(keyFile(), `${key}\n`, 0o600);
  }
  const spec = [
    "# porthole hub spec: edit with porthole peer/forward commands (or by hand, then porthole apply).",
    "version: 1",
    "hub:",
    `  name: ${o.name}`,
    `  endpoint: ${JSON.stringify(o.endpoint)}`,
    `  listenPort: ${port}`,
    `  publicKey: ${publicKeyOf(key)}`,
    `  publicInterface: ${o.publicInterface}`,
    `  subnet: ${o.subnet}`,
    `  firewall: ${o.firewall}`,
    "  # snat clients reach agent peers each from its own address in this prefix (with 240.0.0.0/8,",
    "  # 203.0.113.7 as 240.0.113.7), not all from the hub's tunnel address; \"off\": from the hub's.",
    `  snatPool: ${o.snatPool}`,
    "peers: []",
    "forwards: []",
    "",
  ].join("\n");
  try {
    await store.create(spec);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const runtime = new RuntimeStore(hostFiles, stateDir());
  const hadRuntime = (await readText(runtime.path)) !== null;
  // All or nothing: a failed apply undid its own steps; the spec (and the runtime file, when this init
  // made it) go too, so `hub init` runs again as it is once the cause is fixed. The key is reused.
  const undo = async (e: unknown): Promise<never> => {
    await removeFile(store.file);
    if (!hadRuntime) await removeFile(runtime.path);
    throw new UserError(
      `hub init failed, nothing was set up (the key ${keyFile()} is kept for the next try):\n${(e as Error).message}`,
    );
  };
  // The runtime file also marks this host as run by the hub daemon (see hostContext).
  await runtime
    .update((rt) => {
      rt.webhook = o.webhook;
    })
    .catch(undo);
  const r = await hub().apply().catch(undo);
  console.log(`hub "${o.name}" initialized: ${count(r.lines.length, "change")} applied`);
  if (r.warnings?.length) console.log(r.warnings.join("\n"));
  await startService("porthole-hub.service", "porthole hub run");
  // `peer add` needs the daemon: say it is ready only once its API answers.
  if (hasSystemd() && !(await waitForDaemon(30_000)))
    console.log("the hub daemon's API did not answer within 30 s: see `journalctl -u porthole-hub`");
  console.log(`\nNext: porthole peer add NAME   (prints a one-time join token for the new peer)`);
}

/**
 * How to stop the running daemon before starting another: its unit, or its pid. Never `porthole down`,
 * which also removes everything porthole made and, on a peer, leaves the hub (a new token to come back).
 */
export function stopFirst(role: "hub" | "peer", pid: number, systemd: boolean): string {
  const unit = `porthole-${role}`;
  return systemd
    ? `stop it first: \`systemctl stop ${unit}\` (or \`kill ${pid}\` if ${unit}.service does not run it)`
    : `stop it first: \`kill ${pid}\` (or through the supervisor that runs it)`;
}

/**
 * Claims the daemon's pid file, saying the spec file it runs on (`spec`: so `apply` compares with it,
 * not with its own shell's), or fails at once naming the one already running.
 */
export async function claimOrExit(role: "hub" | "peer", spec: string): Promise<() => Promise<void>> {
  try {
    return await claimDaemon(stateDir(), role, resolve(spec));
  } catch (e) {
    if (e instanceof DaemonRunning)
      throw new UserError(`${e.message}; ${stopFirst(role, e.info.pid, hasSystemd())}`);
    throw e;
  }
}

export function registerHubCommands(program: Command): void {
  const hub = program.command("hub").description("the hub (the VPS): init, run");
  hub
    .command("init")
    .description("make this machine the hub: key, spec, tunnel, NAT, systemd unit; prints next steps")
    .requiredOption(
      "--endpoint <host>",
      "the public name or address peers use to reach this VPS",
      valid("--endpoint", EndpointField),
    )
    .option(
      "--listen-port <port>",
      "WireGuard UDP port",
      (t) => Number(valid("--listen-port", PortField)(t)),
      51820,
    )
    .option("--subnet <cidr>", "tunnel subnet", valid("--subnet", SubnetField), "10.8.0.0/24")
    .option(
      "--snat-pool <cidr>",
      'where snat clients come from on the peers, one address each; "off": all from the hub\'s address',
      valid("--snat-pool", SnatPoolField),
      DEFAULTS.snatPool,
    )
    .option("--firewall <backend>", "nftables or iptables", valid("--firewall", FirewallShape), "nftables")
    .option(
      "--public-interface <name>",
      'interface facing the internet ("auto": any but the tunnel)',
      valid("--public-interface", PublicInterfaceField),
      "auto",
    )
    .option(
      "--webhook <url>",
      "POST events (peer online/offline, failed applies) to this URL",
      valid("--webhook", WebhookUrl),
    )
    .option("--name <name>", "the hub's name", valid("--name", NameField), "hub")
    .action(init);
  hub
    .command("webhook")
    .description("where to POST events (peer online/offline, failed applies); no URL: show it; --off to stop")
    .argument("[URL]", "an http:// or https:// URL", (url: string) => {
      // `hub webhook off` is the natural guess for turning it off: name the flag that does.
      if (url === "off" || url === "none")
        throw new UserError(
          `URL: "${url}" is not accepted; give an http:// or https:// URL, or stop sending events with \`porthole hub webhook --off\``,
          EXIT.usage,
        );
      return valid("URL", WebhookUrl)(url);
    })
    .option("--off", "send no more events")
    .action(async (url: string | undefined, o: { off?: boolean }) => {
      if (!url && !o.off) {
        const current = (await new RuntimeStore(hostFiles, stateDir()).load()).webhook;
        console.log(current ? `events are POSTed to ${current}` : "no webhook: events are not sent anywhere");
        return;
      }
      const store = new RuntimeStore(hostFiles, stateDir());
      const running = await runningDaemon(stateDir(), "hub");
      // A hub managed with `porthole apply` runs no daemon, so nothing would ever send an event; and
      // writing the runtime file would make it read as set up with `hub init` (daemonManaged), whose
      // changes then refused for a daemon it never had, and whose next apply installed one.
      if (!running && !pathExists(store.path))
        throw new UserError(
          `events are sent by the hub daemon, and this hub runs none: it is managed with \`porthole apply\` (a hub set up with \`porthole hub init\` runs one, as does \`porthole hub run\` under your own supervisor); nothing was changed`,
          EXIT.usage,
        );
      await store.update((r) => {
        r.webhook = o.off ? undefined : url;
      });
      console.log(o.off ? "webhook off" : `events will be POSTed to ${url}`);
      // A setting the daemon reads per event, kept as it is; no event is sent while it does not run.
      if (!o.off && !running)
        console.error(`porthole: the hub daemon, which sends them, is not running — ${START_DAEMON}`);
    });
  hub
    .command("run")
    .description("the hub daemon: reconcile, serve the API (tunnel address + unix socket), repair drift")
    .option(
      "--interval <ms>",
      "how often to check the host (100-60000)",
      valid("--interval", wholeNumber(100, 60_000)),
      2000,
    )
    .option("--down-on-stop", STOP_HELP)
    .action(async (o: { interval: number; downOnStop?: boolean }) => {
      const intervalMs = o.interval;
      const log = daemonLogger();
      const release = await claimOrExit("hub", hubSpecPath());
      let d: Awaited<ReturnType<typeof runHub>>;
      try {
        const { runHub } = await import("../hub/daemon.ts");
        d = await runHub({ ...hostContext(log), service: "daemon" }, await hubStore(), { intervalMs, log });
      } catch (e) {
        await release();
        throw e;
      }
      const stop = async () => {
        await d.stop();
        if (o.downOnStop) await stopForwarding(log);
        await release();
        process.exit(0);
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
    });
}
