// `porthole status` on the hub: the daemon's state beside the hub's status, and a hand-broken spec file said.
import { join } from "node:path";
import { runningDaemon } from "../host/daemon-pid.ts";
import { pathExists } from "../host/files.ts";
import { socketPath } from "../hub/socket-path.ts";
import { secondsText } from "../protocol/age-text.ts";
import { renderStatus } from "../protocol/status-text.ts";
import { count } from "../spec/diagnostics.ts";
import { hub, hubStore, START_DAEMON } from "./hub-client.ts";
import { daemonManaged, stateDir } from "./paths.ts";

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

/** In status's words for an age ("1 second", "90 seconds", "5 minutes"), whole hours past two. */
const uptime = (s: number) => (s < 7200 ? secondsText(s) : count(Math.round(s / 3600), "hour"));

export function renderDaemon(d: DaemonState): string {
  // reconcile/state.ts's record, named here so `status` loads none of the reconciler.
  return daemonLine(d, daemonManaged(), pathExists(join(stateDir(), "applied.json")));
}

/**
 * The daemon's line. `managed`: the hub was set up to run its daemon (hub init: its runtime file);
 * `applied`: something of it is applied here. Neither is what `porthole down` and `uninstall` leave
 * (the spec and key stay): not "managed with apply", which it never was.
 */
export function daemonLine(d: DaemonState, managed: boolean, applied: boolean): string {
  if (d.running && !d.listening) return `daemon: starting (pid ${d.pid}): its first reconcile runs`;
  if (d.running) return `daemon: running (pid ${d.pid}, up ${uptime(d.uptimeSeconds ?? 0)})`;
  // Nothing applied first: `down` removed the unit too, so "start it" would name what is not there.
  if (!applied)
    return `daemon: not running, and nothing of this hub is applied here (as after \`porthole down\` or \`uninstall\`; the spec and key stay): \`porthole apply\` brings it back${managed ? ", then start the daemon" : ""}`;
  if (managed)
    return `daemon: NOT running — ${START_DAEMON}; changes, join tokens and peers' requests need it`;
  return "daemon: not used (this hub is managed with `porthole apply`)";
}

/** What is wrong with the hub's spec file (a hand edit), or null; said next to the live state it does not stop. */
export async function specProblem(): Promise<string | null> {
  // Loaded here, not at the top: `status` itself takes the problem from the hub and needs no spec code.
  const { SpecRejected } = await import("../hub/store.ts");
  try {
    await (await hubStore()).load();
    return null;
  } catch (e) {
    return e instanceof SpecRejected ? e.message : null;
  }
}

export function warnSpec(problem: string | null): void {
  if (problem)
    console.error(
      `warning: the hub's spec file cannot be used (an error in it, or it is missing); the hub runs on its last valid spec and refuses changes until it is fixed:\n${problem}\n`,
    );
}

/** `porthole status` on the hub; `all`: every forward's lines, however many (see renderStatus). */
export async function hubStatusCommand(json: boolean, all = false): Promise<void> {
  const daemon = await hubDaemonState();
  // The text of a large hub sums its forwards up: the hub sends the summary, not every forward.
  const s = await hub().status(!json && !all);
  // The hub (the daemon, or the same API in-process) read the spec file for this status and says
  // what is wrong with it: no need to load and validate it here again.
  const problem = s.specProblem ?? null;
  if (json) {
    console.log(JSON.stringify({ ...s, daemon, specProblem: problem }, null, 2));
    return;
  }
  warnSpec(problem);
  const [first, ...rest] = renderStatus(s, all).split("\n");
  console.log([first, renderDaemon(daemon), ...rest].join("\n"));
}
