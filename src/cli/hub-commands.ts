// On the hub: init, run (the daemon), peer add|rm|ls, forward add|rm|ls, status.
import type { Command } from "commander";
import { claimDaemon, DaemonRunning, runningDaemon } from "../host/daemon-pid.ts";
import { hostFiles, pathExists, readText, removeFile, writeAtomic } from "../host/files.ts";
import { enableNow, hasSystemd } from "../host/systemd.ts";
import type { runHub } from "../hub/daemon.ts";
import { RuntimeStore } from "../hub/runtime.ts";
import { socketPath } from "../hub/socket-path.ts";
import { SpecRejected } from "../hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../net/wgkey.ts";
import type { AddForwardRequest } from "../protocol/requests.ts";
import { renderStatus } from "../protocol/status-text.ts";
import { daemonManaged, hostContext } from "./context.ts";
import { daemonLogger } from "./daemon-log.ts";
import { EXIT, UserError, wholeNumber } from "./errors.ts";
import { hub, hubStore, START_DAEMON, waitForDaemon } from "./hub-client.ts";
import { keyFile, stateDir } from "./paths.ts";
import { table } from "./table.ts";

export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!m)
    throw new UserError(
      `--expires: ${JSON.stringify(text)} is not accepted; use a duration like 30m, 1h or 2d`,
      EXIT.usage,
    );
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s"];
}

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
  listenPort: string;
  subnet: string;
  firewall: string;
  publicInterface: string;
  webhook?: string;
  name: string;
}

async function init(o: InitOpts): Promise<void> {
  const store = await hubStore();
  // Loaded per command (not at start): `porthole status` runs from this module too.
  const { parseEndpoint } = await import("../spec/endpoint.ts");
  if ((await readText(store.file)) !== null)
    throw new UserError(`${store.file} exists already: this hub is initialized (see porthole status)`);
  const port = Number(o.listenPort);
  if (!parseEndpoint(o.endpoint, port))
    throw new UserError(
      `--endpoint: ${JSON.stringify(o.endpoint)} is not a host name or IP address (with an optional :port)`,
    );
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
  console.log(`hub "${o.name}" initialized: ${r.lines.length} changes applied`);
  if (r.warnings?.length) console.log(r.warnings.join("\n"));
  await startService("porthole-hub.service", "porthole hub run");
  // `peer add` needs the daemon: say it is ready only once its API answers.
  if (hasSystemd() && !(await waitForDaemon(30_000)))
    console.log("the hub daemon's API did not answer within 30 s: see `journalctl -u porthole-hub`");
  console.log(`\nNext: porthole peer add NAME   (prints a one-time join token for the new peer)`);
}

/** Claims the daemon's pid file, or fails at once naming the one already running. */
export async function claimOrExit(role: "hub" | "peer"): Promise<() => Promise<void>> {
  try {
    return await claimDaemon(stateDir(), role);
  } catch (e) {
    if (e instanceof DaemonRunning)
      throw new UserError(`${e.message}; stop it first (\`porthole down\` stops it and removes everything)`);
    throw e;
  }
}

export function registerHubCommands(program: Command): void {
  const hub = program.command("hub").description("the hub (the VPS): init, run");
  hub
    .command("init")
    .description("make this machine the hub: key, spec, tunnel, NAT, systemd unit; prints next steps")
    .requiredOption("--endpoint <host>", "the public name or address peers use to reach this VPS")
    .option("--listen-port <port>", "WireGuard UDP port", "51820")
    .option("--subnet <cidr>", "tunnel subnet", "10.8.0.0/24")
    .option("--firewall <backend>", "nftables or iptables", "nftables")
    .option("--public-interface <name>", 'interface facing the internet ("auto": any but the tunnel)', "auto")
    .option("--webhook <url>", "POST events (peer online/offline, failed applies) to this URL")
    .option("--name <name>", "the hub's name", "hub")
    .action(init);
  hub
    .command("webhook")
    .description("where to POST events (peer online/offline, failed applies); no URL: show it; --off to stop")
    .argument("[url]")
    .option("--off", "send no more events")
    .action(async (url: string | undefined, o: { off?: boolean }) => {
      if (!url && !o.off) {
        const current = (await new RuntimeStore(hostFiles, stateDir()).load()).webhook;
        console.log(current ? `events are POSTed to ${current}` : "no webhook: events are not sent anywhere");
        return;
      }
      if (url && !/^https?:\/\/\S+$/.test(url)) {
        throw new UserError(
          `webhook: ${JSON.stringify(url)} is not accepted; give an http:// or https:// URL`,
          EXIT.usage,
        );
      }
      await new RuntimeStore(hostFiles, stateDir()).update((r) => {
        r.webhook = o.off ? undefined : url;
      });
      console.log(o.off ? "webhook off" : `events will be POSTed to ${url}`);
    });
  hub
    .command("run")
    .description("the hub daemon: reconcile, serve the API (tunnel address + unix socket), repair drift")
    .option("--interval <ms>", "how often to check the host (100-60000)", "2000")
    .option("--down-on-stop", STOP_HELP)
    .action(async (o: { interval: string; downOnStop?: boolean }) => {
      const intervalMs = wholeNumber("--interval", o.interval, 100, 60_000);
      const log = daemonLogger();
      const release = await claimOrExit("hub");
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

export function registerHubPeerCommands(peer: Command): void {
  peer
    .command("add")
    .description(
      "add a peer: prints a one-time join token (or, with --device, a wg-quick config and QR code)",
    )
    .argument("<name>")
    .option("--admin", "the peer may manage every peer and forward")
    .option("--expires <duration>", "how long the token is valid", "1h")
    .option("--device", "for a phone or laptop that cannot run porthole: the hub makes its key")
    .action(async (name: string, o: { admin?: boolean; expires: string; device?: boolean }) => {
      if (!o.device) {
        const r = await hub({ needsDaemon: true }).createToken({
          name,
          admin: !!o.admin,
          expiresSeconds: parseDuration(o.expires),
        });
        console.log(
          `join token for "${name}" (works once, until ${r.expires}):\n\n  porthole join ${r.token}\n`,
        );
        return;
      }
      const r = await hub().addPeer({ name, admin: !!o.admin, device: true });
      const { spec } = await (await hubStore()).load();
      const [{ compile }, { renderWgQuick }, { default: qrcode }] = await Promise.all([
        import("../compile/compile.ts"),
        import("../compile/wireguard.ts"),
        import("qrcode-terminal"),
      ]);
      const plan = compile(spec, name);
      const config = renderWgQuick({ ...plan.wireguard, privateKey: r.privateKey }, name);
      console.log(
        `device "${name}" added. The hub made its private key: it is shown once here and not stored.\n`,
      );
      console.log(config);
      qrcode.generate(config, { small: true }, (q: string) => console.log(q));
    });
  peer
    .command("rm")
    .description("remove a peer and its forwards, or revoke a pending join token")
    .argument("<name>")
    .action(async (name: string) => {
      const r = await hub().removePeer(name);
      if (r.revokedToken) {
        console.log(`revoked the pending join token for "${name}" (it can no longer be used)`);
        return;
      }
      console.log(
        `removed peer ${name}${r.removedForwards.length ? ` and its forwards ${r.removedForwards.join(", ")}` : ""}`,
      );
    });
  peer
    .command("ls")
    .description("list peers")
    .option("--json", "machine-readable: { peers, tokens }")
    .action(async (o: { json?: boolean }) => {
      const peers = await hub().peers();
      warnSpec(await specProblem());
      const tokens = await hub().tokens();
      if (o.json) {
        console.log(JSON.stringify({ peers, tokens }, null, 2));
        return;
      }
      const rows = peers.map((p) => [
        p.name,
        p.address,
        p.online ? "online" : "offline",
        `${p.kind}${p.admin ? ", admin" : ""}`,
      ]);
      for (const t of tokens)
        rows.push([
          t.name,
          "-",
          t.expired ? `token expired ${t.expires}` : `join token pending, expires ${t.expires}`,
          `agent${t.admin ? ", admin" : ""}`,
        ]);
      console.log(table(["NAME", "ADDRESS", "STATE", "KIND"], rows));
      if (!rows.length) console.log("(no peers yet: porthole peer add NAME)");
    });
}

export function registerForwardCommands(program: Command): void {
  const fwd = program.command("forward").description("forwards, from the hub (peers use expose)");
  fwd
    .command("add")
    .description("forward a public port (or range) of the hub to a peer")
    .requiredOption("--port <port>", "public port or range, e.g. 80 or 6000-6010")
    .requiredOption("--peer <name>", "the peer that receives the traffic")
    .option("--target-port <port>", "port (or range of equal length) on the peer; default: the same")
    .option("--proto <proto>", "tcp, udp or tcp+udp", "tcp")
    .option("--mode <mode>", "snat (default) or transparent (client IP preserved)")
    .option("--allow <cidr...>", "only these sources may connect")
    .option("--name <name>", "a name for the forward")
    .option(
      "--shadow-hub-service",
      "take the public port even if a service on the hub listens on it (admins only)",
    )
    .action(
      async (o: {
        shadowHubService?: boolean;
        port: string;
        peer: string;
        targetPort?: string;
        // Passed on as given: the hub checks them (AddForwardRequest) and names what it accepts.
        proto: AddForwardRequest["proto"];
        mode?: AddForwardRequest["mode"];
        allow?: string[];
        name?: string;
      }) => {
        const f = await hub().addForward({
          name: o.name,
          proto: o.proto,
          port: o.port,
          peer: o.peer,
          targetPort: o.targetPort,
          mode: o.mode,
          allowFrom: o.allow,
          shadowHubService: o.shadowHubService,
        });
        const x = f as {
          name: string;
          proto: string;
          port: string;
          peer: string;
          targetPort: string;
          mode: string;
          allowFrom: string[];
        };
        console.log(
          `+ forward ${x.name}: ${x.proto}/${x.port} → ${x.peer}:${x.targetPort} (${x.mode}${x.allowFrom.length ? `; from ${x.allowFrom.join(", ")}` : ""})`,
        );
      },
    );
  fwd
    .command("rm")
    .argument("<name>")
    .description("remove a forward")
    .action(async (name: string) => {
      await hub().removeForward(name);
      console.log(`- forward ${name}`);
    });
  fwd
    .command("ls")
    .description("list forwards")
    .option("--json", "machine-readable")
    .action(async (o: { json?: boolean }) => {
      const list = await hub().forwards();
      if (o.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      const rows = list.map((f) => [
        String(f.name),
        `${f.proto}/${f.port}`,
        `${f.peer}:${f.targetPort}`,
        String(f.mode),
        (f.allowFrom as string[]).join(",") || "anywhere",
      ]);
      console.log(table(["NAME", "PUBLIC", "TARGET", "MODE", "FROM"], rows));
      if (!rows.length) console.log("(no forwards yet)");
    });
}

/** The hub daemon's state for `status`: running (pid, since when) or not, and what to do about it. */
export interface DaemonState {
  running: boolean;
  /** Its API socket is there (false while it makes its first reconcile). */
  listening?: boolean;
  pid?: number;
  startedAt?: string;
  uptimeSeconds?: number;
}

export async function hubDaemonState(): Promise<DaemonState> {
  const info = await runningDaemon(stateDir(), "hub");
  if (!info) return { running: false };
  const uptimeSeconds = Math.max(0, Math.round((Date.now() - Date.parse(info.startedAt)) / 1000));
  const listening = pathExists(socketPath(stateDir()));
  return { running: true, listening, pid: info.pid, startedAt: info.startedAt, uptimeSeconds };
}

const uptime = (s: number) =>
  s < 120 ? `${s} seconds` : s < 7200 ? `${Math.round(s / 60)} minutes` : `${Math.round(s / 3600)} hours`;

export function renderDaemon(d: DaemonState): string {
  if (d.running && !d.listening) return `daemon: starting (pid ${d.pid}): its first reconcile runs`;
  if (d.running) return `daemon: running (pid ${d.pid}, up ${uptime(d.uptimeSeconds ?? 0)})`;
  return daemonManaged()
    ? `daemon: NOT running — ${START_DAEMON}; join tokens and peers' requests need it`
    : "daemon: not used (this hub is managed with `porthole apply`)";
}

/** What is wrong with the hub's spec file (a hand edit), or null; said next to the live state it does not stop. */
async function specProblem(): Promise<string | null> {
  try {
    await (await hubStore()).load();
    return null;
  } catch (e) {
    return e instanceof SpecRejected ? e.message : null;
  }
}

function warnSpec(problem: string | null): void {
  if (problem)
    console.error(
      `warning: the hub's spec file has errors; the hub runs on its last valid spec and refuses changes until it is fixed:\n${problem}\n`,
    );
}

export async function hubStatusCommand(json: boolean): Promise<void> {
  const daemon = await hubDaemonState();
  const s = await hub().status();
  const problem = await specProblem();
  if (json) {
    console.log(JSON.stringify({ ...s, daemon, specProblem: problem }, null, 2));
    return;
  }
  warnSpec(problem);
  const [first, ...rest] = renderStatus(s).split("\n");
  console.log([first, renderDaemon(daemon), ...rest].join("\n"));
}
