// On a peer: join, run (the agent), expose, unexpose, exposed, status. The host drivers (./context.ts),
// address formatting (ipaddr.js) and status text load inside the commands that use them, so starting
// `porthole expose` evaluates little more than commander (bench/README.md, start-up).
import type { Command } from "commander";
import { hostFiles } from "../host/files.ts";
import { formatRange, parsePortRange, portValue } from "../net/ports.ts";
import { type PeerIdentity, readIdentity, readLocalSpec, specFile } from "../peer/local.ts";
import { STALE_HANDSHAKE_S } from "../peer/stale.ts";
import { daemonLogger } from "./daemon-log.ts";
import { EXIT, UserError } from "./errors.ts";
import {
  addSharedForwardOptions,
  type SharedForwardOptions,
  sharedForwardFields,
} from "./forward-options.ts";
import { EXPOSE_ARGS } from "./hub-words.ts";
import { configDir, stateDir } from "./paths.ts";
import type { ask } from "./peer-ask.ts";
import type { PortOrName } from "./port-args.ts";
import { table } from "./table.ts";

export async function peerIdentity(): Promise<PeerIdentity | null> {
  return readIdentity(hostFiles, stateDir());
}

/**
 * `ask` (peer-ask.ts), loaded when a command asks the hub: its transport brings node's http client
 * (~4 ms of a run's CPU), which `porthole expose --help` and a refused argument do not need.
 */
const askHub = async (...args: Parameters<typeof ask>) => (await import("./peer-ask.ts")).ask(...args);

async function requirePeer(): Promise<PeerIdentity> {
  const id = await peerIdentity();
  if (!id)
    throw new UserError(
      "this machine has not joined a hub: run `porthole join TOKEN` (get a token on the hub with `porthole peer add NAME`)",
      EXIT.usage,
    );
  return id;
}

/** The signals that stop a join between its steps. */
const JOIN_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Fetches the hub's spec and applies this peer's part (so transparent routing follows at once). */
async function sync(id: PeerIdentity): Promise<void> {
  const text = await (await askHub(id)).spec();
  const { hostContext } = await import("./context.ts");
  const ctx = hostContext(() => {});
  await ctx.host.files.write(specFile(configDir()), text);
  const local = await readLocalSpec(hostFiles, configDir());
  // Loaded here, not at start: only the commands that change the machine need the reconciler.
  const { apply } = await import("../reconcile/reconcile.ts");
  if (!local) return;
  try {
    await apply({ ...ctx, service: "daemon" }, { spec: local.spec, specText: local.text, hostName: id.name });
  } catch (e) {
    await reportApply(id.api, local.text, (e as Error).message);
    throw e;
  }
  await reportApply(id.api, local.text, null);
}

/**
 * Tells the hub at `api` of this command's apply of `specText` (`error`: why it failed; null: it
 * succeeded), so its status judges this peer's forwards by it at once. Best effort, never throws: the
 * agent reports it too on its next tick, so a hub that did not hear (older, or busy) loses nothing.
 * One attempt (5 s): not a change's minute-long follow-up, which would hang the command and say on
 * stderr that a change it already made may not have happened.
 */
export async function reportApply(api: string, specText: string, error: string | null): Promise<void> {
  const [{ specHash }, { ApplyReporter }] = await Promise.all([
    import("../protocol/spec-hash.ts"),
    import("../peer/applied.ts"),
  ]);
  // The agent's own reporter, for one report: the same shape and error limit, and it never throws.
  const reporter = new ApplyReporter(
    async (r) => (await import("../peer/client.ts")).peerClient(api, { recover: false }).reportApplied(r),
    () => {},
  );
  reporter.record(specHash(specText), new Date().toISOString(), error);
  await reporter.sync(null);
}

/**
 * The forwards `unexpose WHAT` means: by name; by port and protocol ("80:udp"); or by port alone ("80"),
 * whatever its protocols (tcp, udp, tcp+udp). Ports before names: digits are a port; only when no
 * forward is on it, a forward named so (a name that reads as a port, refused for new forwards since).
 */
export function matchForwards<F extends { name: string; port: string; proto: string }>(
  mine: F[],
  what: PortOrName,
): F[] {
  if ("name" in what) return mine.filter((f) => f.name === what.name);
  const onPort = mine.filter((f) => f.port === what.port && (what.proto === null || f.proto === what.proto));
  if (onPort.length || what.proto !== null) return onPort;
  return mine.filter((f) => f.name === what.port);
}

/**
 * What `unexpose` says when no forward is on exactly that port (or named so): a port inside a range
 * forward names that forward, since a forward is removed whole (`unexpose 6001` of 6000-6003 said only
 * "none of rpi's forwards matches").
 */
export function noneMatches<F extends { name: string; port: string; proto: string }>(
  mine: F[],
  what: PortOrName,
  said: string,
  peer: string,
): string {
  const parsed = "name" in what ? null : parsePortRange(what.port);
  const proto = "name" in what ? null : what.proto;
  const range = parsed?.ok ? parsed.range : null;
  const inside = mine.filter((f) => {
    const r = parsePortRange(f.port);
    if (!range || !r.ok || (proto !== null && f.proto !== proto && f.proto !== "tcp+udp")) return false;
    return r.range.from <= range.to && range.from <= r.range.to;
  });
  if (!inside.length) {
    // The port right, the protocol not ("7003:udp" of a tcp forward): name the forward that is there.
    const other = mine.filter((f) => {
      const r = parsePortRange(f.port);
      return range && r.ok && proto !== null && r.range.from <= range.to && range.from <= r.range.to;
    });
    if (other.length)
      return `${said}: none of ${peer}'s forwards is on ${proto}/${range ? formatRange(range) : said}; on that port: ${other.map((f) => `${f.name} (${f.proto}/${f.port})`).join(", ")}: \`porthole unexpose ${other[0]?.name}\``;
    return `${said}: none of ${peer}'s forwards matches; see \`porthole exposed\``;
  }
  const which = inside.map((f) => `${f.name} (${f.proto}/${f.port})`).join(", ");
  return `${said}: no forward of ${peer}'s is on exactly that; it is part of ${which}, and a forward is removed whole: \`porthole unexpose ${inside[0]?.name}\` (then expose the ports to keep again)`;
}

/** The token from the argument, stdin ("-") or a file; a usage error when none or both are given. */
async function readTokenArg(given: string | undefined, file: string | undefined): Promise<string> {
  const ways =
    "`porthole join -` (then paste it), `porthole join --token-file FILE`, or `porthole join TOKEN`";
  // None given is the likelier slip (the token left on the hub's screen): say where one comes from.
  if (given === undefined && file === undefined)
    throw new UserError(
      `join: no token given; give the one \`porthole peer add NAME\` printed on the hub: ${ways}`,
      EXIT.usage,
    );
  if (given !== undefined && file !== undefined)
    throw new UserError(`join: give the token one way, not both TOKEN and --token-file: ${ways}`, EXIT.usage);
  let text = given ?? "";
  if (file !== undefined) {
    const { readGivenFile } = await import("./given-file.ts");
    text = readGivenFile(
      "--token-file",
      file,
      "give the file the token was saved in, or paste the token into `porthole join -`",
    );
  } else if (given === "-") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString("utf8");
  }
  const { tokenIn } = await import("../protocol/tokens.ts");
  const token = tokenIn(text);
  if (!token) throw new UserError("join: the token is empty", EXIT.usage);
  return token;
}

export function registerPeerCommands(program: Command, peerGroup: Command): void {
  program
    .command("join")
    .description(
      "join a hub with a token from `porthole peer add`: own key, tunnel, registration, systemd unit",
    )
    .argument("[TOKEN]", 'the token, or "-" to read it from stdin (so it is not in the process list)')
    .option("--token-file <file>", "read the token from this file")
    .action(async (given: string | undefined, o: { tokenFile?: string }) => {
      const { tokenFileOption } = await import("./peer-args.ts");
      const token = await readTokenArg(given, tokenFileOption(o.tokenFile));
      const { hostContext } = await import("./context.ts");
      const ctx = { ...hostContext((l) => console.log(l)), service: "daemon" as const };
      const { JoinError, joinHub } = await import("../peer/join.ts");
      const { startService } = await import("./hub-commands.ts");
      // A Ctrl-C (or SIGTERM, SIGHUP) stops the join between steps, undone, rather than mid-step, which
      // left the enrollment tunnel up and the next join refused over it. A second one quits at once.
      let stopped: string | null = null;
      const onSignal = (sig: NodeJS.Signals) => {
        if (stopped) process.exit(130);
        stopped = sig;
        console.error(`porthole: join: ${sig}: stopping (again to quit at once)`);
      };
      for (const sig of JOIN_SIGNALS) process.on(sig, onSignal);
      try {
        const r = await joinHub(token, {
          ctx,
          configDir: configDir(),
          log: (l) => console.log(l),
          interrupted: () => stopped,
        });
        console.log(`joined as "${r.name}" (${r.address})`);
        if (stopped)
          console.log(
            r.signalledWhileRegistering
              ? `(${stopped} came while the hub was registering this peer; it registered it, so the join was finished)`
              : `(${stopped} came after the hub registered this peer: the join was finished)`,
          );
      } catch (e) {
        const registered = e instanceof JoinError && e.registered;
        // A step's program killed by the same Ctrl-C (it reaches the whole process group) is the stop too.
        if (e instanceof JoinError || stopped)
          throw new UserError(
            `join: ${(e as Error).message}${registered ? "" : "\nnothing was changed on this machine"}`,
            registered || (e instanceof JoinError && e.noAnswer) ? EXIT.host : stopped ? 130 : EXIT.invalid,
          );
        throw e;
      } finally {
        for (const sig of JOIN_SIGNALS) process.off(sig, onSignal);
      }
      await startService("porthole-peer.service", "porthole peer run");
      console.log(
        "\nNext: porthole expose 80 --to 8080   (forwards public :80 on the hub to this machine's :8080)",
      );
    });

  peerGroup
    .command("run")
    .description("the peer agent: keeps the tunnel healthy and this peer's side in step with the hub")
    .option("--interval <ms>", "how often to probe the hub (100-60000)", "2000")
    .option(
      "--no-nudge",
      "no datagram to the hub halfway between probes (it makes the hub follow a new home address within half an interval)",
    )
    .option(
      "--stale-after <seconds>",
      "re-resolve the hub's name when the hub is unreachable and the last handshake is this old (5-3600)",
      String(STALE_HANDSHAKE_S),
    )
    .option(
      "--down-on-stop",
      "on SIGTERM/SIGINT take the tunnel and forwarding down (the systemd unit sets it)",
    )
    .action(async (o: { interval: string; nudge: boolean; staleAfter: string; downOnStop?: boolean }) => {
      const { intervalMs, staleAfterS } = (await import("./peer-args.ts")).runOptions(o);
      const id = await requirePeer();
      const log = daemonLogger();
      const { claimOrExit, stopForwarding } = await import("./hub-commands.ts");
      const { runPeer } = await import("../peer/agent.ts");
      const { hostContext } = await import("./context.ts");
      const release = await claimOrExit("peer", specFile(configDir()));
      const agent = await runPeer(hostContext(log), configDir(), id, {
        intervalMs,
        nudge: o.nudge,
        staleAfterS,
        log,
        onLeft: () => void release().then(() => process.exit(0)),
      });
      log(`peer agent for "${id.name}" running (hub API ${id.api})`);
      const stop = async () => {
        agent.stop();
        if (o.downOnStop) await stopForwarding(log);
        await release();
        process.exit(0);
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
    });

  const expose = program
    .command("expose")
    .description("make a public port of the hub reach a port of this machine")
    .argument("<PUBLIC>", "public port or range, optionally :udp or :tcp+udp (e.g. 80, 53:udp)")
    .requiredOption("--to <port>", "port (or range) on this machine")
    .option("--transparent", "keep the client's IP address (replies are routed back through the tunnel)");
  addSharedForwardOptions(expose).action(
    async (pub: string, o: SharedForwardOptions & { to: string; transparent?: boolean }) => {
      const p = (await import("./peer-args.ts")).exposeArgs(pub, o);
      const id = await requirePeer();
      const req = {
        ...sharedForwardFields(o),
        proto: p.proto,
        port: portValue(p.port),
        targetPort: portValue(p.to),
        mode: o.transparent ? ("transparent" as const) : ("snat" as const),
      };
      let f: Awaited<ReturnType<ReturnType<typeof ask>["addForward"]>>;
      try {
        f = await (await askHub(id, EXPOSE_ARGS)).addForward(req);
      } catch (e) {
        // Refused: when this peer already forwards that port, say so as the user sees it.
        if (!(e instanceof UserError) || e.code !== EXIT.invalid) throw e;
        const { exposeAgain } = await import("./expose-again.ts");
        const again = exposeAgain(await (await askHub(id)).forwards(), id.name, {
          ...req,
          port: p.port,
          targetPort: p.to,
        });
        if (!again) throw e;
        if (!again.same) throw new UserError(again.text, EXIT.invalid);
        console.log(again.text);
        return;
      }
      await sync(id);
      const local = await readLocalSpec(hostFiles, configDir());
      const hubAt = local ? local.spec.hub.endpoint.host : "the hub";
      const { checkTargets } = await import("../doctor/peer-targets.ts");
      const { hostContext } = await import("./context.ts");
      const { exposeReport } = await import("./expose-report.ts");
      const me = local?.spec.peers.find((x) => x.name === id.name);
      // The new forward's target, as `porthole doctor` checks it here (listening, on which address).
      const outcomes =
        local && me
          ? await checkTargets({
              host: hostContext(() => {}).host,
              spec: { ...local.spec, forwards: local.spec.forwards.filter((x) => x.name === f.name) },
              me,
              api: id.api,
              stateDir: stateDir(),
              now: () => Date.now(),
            })
          : [];
      const report = exposeReport(f, hubAt, id.name, outcomes);
      console.log(report.out.join("\n"));
      for (const w of report.warnings) console.error(w);
      if (f.mode === "transparent" && local) {
        const { hub } = local.spec;
        const { formatCidr } = await import("../net/ip.ts");
        const { transparentNeeds } = await import("../peer/transparent.ts");
        const needs = transparentNeeds(f.proto, f.targetPort, hub.interface, formatCidr(hub.subnet));
        console.log(needs.join("\n"));
      }
    },
  );

  program
    .command("unexpose")
    .description("stop forwarding a public port (or a forward by name) to this machine")
    .argument(
      "<PUBLIC-OR-NAME>",
      "a public port or range, optionally :udp or :tcp+udp (80, 53:udp), or the forward's name",
    )
    .action(async (text: string) => {
      const what = (await import("./peer-args.ts")).unexposeArg(text);
      const id = await requirePeer();
      const mine = await (await askHub(id)).forwards();
      const found = matchForwards(mine, what);
      const said = "name" in what ? what.name : `${what.port}${what.proto ? `:${what.proto}` : ""}`;
      if (!found.length) throw new UserError(noneMatches(mine, what, said, id.name));
      if (found.length > 1)
        throw new UserError(
          `${said}: ${found.length} forwards match; name one: ${found.map((x) => `\`porthole unexpose ${x.name}\` (${x.proto}/${x.port})`).join(", ")}`,
          EXIT.usage,
        );
      const f = found[0] as (typeof found)[number];
      await (await askHub(id)).removeForward(f.name);
      await sync(id);
      console.log(`- ${f.proto}/${f.port} → ${id.name}:${f.targetPort} (forward "${f.name}")`);
    });

  program
    .command("exposed")
    .description("list the forwards that reach this machine")
    .option("--json", "machine-readable")
    .action(async (o: { json?: boolean }) => {
      const id = await requirePeer();
      const list = await (await askHub(id)).forwards();
      if (o.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      const rows = list.map((f) => [
        `${f.proto}/${f.port}`,
        `${id.name}:${f.targetPort}`,
        String(f.mode),
        String(f.name),
        (f.allowFrom as string[]).join(",") || "anywhere",
      ]);
      console.log(table(["PUBLIC", "TARGET", "MODE", "NAME", "FROM"], rows));
      if (!rows.length) console.log("(nothing exposed yet: porthole expose PORT --to PORT)");
    });
}
