// `porthole doctor [--json] [--fix]`: runs the checks of this machine's side (hub or peer), one line
// each; exits 4 when any check fails. Read-only unless --fix, which makes only the safe fixes and says
// each one before making it.
import type { Command } from "commander";
import {
  anyFailed,
  type CheckResult,
  NothingToCheck,
  renderResults,
  resultsJson,
  runChecks,
} from "../doctor/check.ts";
import { HUB_CHECKS } from "../doctor/hub.ts";
import { hubContext } from "../doctor/hub-context.ts";
import { PEER_CHECKS, peerContext } from "../doctor/peer.ts";
import type { HubSpecAnswer } from "../doctor/peer-spec.ts";
import { realHost } from "../host/real-host.ts";
import { HubUnreachable, peerClient } from "../peer/client.ts";
import { specHash } from "../protocol/spec-hash.ts";
import { EXIT, UserError } from "./errors.ts";
import { hub, waitForDaemon } from "./hub-client.ts";
import { specProblem } from "./hub-status.ts";
import { configDir, daemonManaged, stateDir } from "./paths.ts";
import { thisSide } from "./side.ts";

/** Nothing of the side set up here is the wrong place to run doctor (2); a record that does not load, invalid (1). */
const refused = (e: unknown): never => {
  throw new UserError((e as Error).message, e instanceof NothingToCheck ? EXIT.usage : EXIT.invalid);
};

async function check(side: "hub" | "peer"): Promise<CheckResult[]> {
  if (side === "hub") {
    const ctx = await hubContext(realHost, stateDir(), daemonManaged() ? "daemon" : "apply").catch(refused);
    // The daemon (when it runs) asks a connected peer to probe the public ports from the internet.
    if (await waitForDaemon(0)) {
      ctx.reachability = () => hub({ needsDaemon: true }).reachability();
      // Only the daemon knows when the hub last received from each peer (it watches their rx).
      ctx.daemonPeers = () => hub({ needsDaemon: true }).peers();
    }
    if (ctx.managedBy === "daemon") ctx.specProblem = specProblem;
    return runChecks(HUB_CHECKS, ctx);
  }
  const ctx = await peerContext(realHost, stateDir(), configDir(), askHub).catch(refused);
  return runChecks(PEER_CHECKS, ctx);
}

/**
 * The hub's spec as this peer may see it (GET /v1/spec: not whoami, whose answer has side effects, see
 * hubApiProbe), and its hash as whoami would give it.
 */
async function askHub(api: string): Promise<HubSpecAnswer> {
  try {
    const text = await peerClient(api).spec();
    return { hash: specHash(text), text };
  } catch (e) {
    // Short: the hub-api line above says the whole of it.
    if (e instanceof HubUnreachable)
      return {
        error: e.refused ? "ECONNREFUSED: its daemon is not running" : "no answer through the tunnel",
      };
    return { error: (e as Error).message };
  }
}

async function doctor(o: { json?: boolean; fix?: boolean }): Promise<void> {
  // Without root, nft and iptables-save list nothing and `ss` names no program: the firewall checks
  // would read "nothing drops" from an empty listing. Refused rather than reported as ok.
  if (process.getuid?.() !== 0)
    throw new UserError(
      "porthole doctor reads the firewalls, sockets and WireGuard state, which only root can: run it as root (sudo porthole doctor)",
      EXIT.usage,
    );
  const side = thisSide();
  if (side === "none")
    throw new UserError(
      "this machine is neither a hub nor a peer yet: nothing to check (`porthole hub init --endpoint NAME` or `porthole join TOKEN` first)",
      EXIT.usage,
    );
  let results = await check(side);
  if (o.fix) {
    const repairs = results.filter((r) => r.repair && (r.status === "fail" || r.status === "warn"));
    for (const r of repairs) {
      // Said before it is done, so a fix that fails or hangs has been named.
      console.error(`fixing ${r.id}: ${r.repair?.text}`);
      await r.repair?.run(realHost);
    }
    if (!repairs.length) console.error("nothing doctor can fix by itself");
    else results = await check(side);
  }
  if (o.json)
    console.log(JSON.stringify({ side, failed: anyFailed(results), checks: resultsJson(results) }, null, 2));
  else console.log(`porthole doctor, on the ${side}:\n${renderResults(results)}`);
  if (anyFailed(results)) process.exitCode = EXIT.failed;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description(
      "check what this hub or peer needs (forwarding, firewalls, daemon, endpoint...): ok/warn/fail and the fix; exit 4 when a check fails",
    )
    .option("--json", "machine-readable")
    .option("--fix", "make the safe fixes (kernel settings porthole sets anyway), each printed first")
    .action(doctor);
}
