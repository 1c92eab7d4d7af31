// CLI commands on the hub talk to the daemon through its unix socket when it runs, or run the same
// API in-process (editing the state directly) when it doesn't — one code path either way.
import { connect } from "node:net";
import { hostFiles } from "../host/files.ts";
import { socketPath } from "../hub/socket-path.ts";
import type { SpecStore } from "../hub/store.ts";
import { requestText } from "../peer/http.ts";
import { errorMessage, errorProblems, hubClient, jsonOrText } from "../protocol/client.ts";
import { EXIT, UserError } from "./errors.ts";
import { type ArgNames, inArgWords } from "./hub-words.ts";
import { daemonManaged, hubSpecPath, stateDir } from "./paths.ts";

export interface Reply {
  status: number;
  body: unknown;
}

/** The hub's spec store, at hubSpecPath() (loaded on demand: `status` through the daemon needs no spec code). */
export async function hubStore(): Promise<SpecStore> {
  const { SpecStore } = await import("../hub/store.ts");
  return new SpecStore(hostFiles, hubSpecPath(), stateDir());
}

/**
 * How long a read (GET) through the daemon's socket may take, in ms: a status of 10,000 forwards is
 * answered in seconds. A change has no limit (its answer comes when the apply is done).
 */
export const SOCKET_READ_MS = 60_000;

/**
 * One request to the daemon over its socket; null when no daemon listens there (no socket, or one left
 * by a daemon that died). `timeoutMs` bounds the exchange (default: SOCKET_READ_MS for a GET, none for
 * a change); a daemon that accepts and does not answer within it is a UserError, exit 3.
 */
async function overSocket(
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = method === "GET" ? SOCKET_READ_MS : undefined,
): Promise<Reply | null> {
  // node:crypto only for a change (its ~15 internal modules are a tenth of a `status` run's start-up).
  const id = method === "GET" ? null : (await import("node:crypto")).randomUUID();
  const sock = socketPath(stateDir());
  try {
    // The id makes a repeated change happen once.
    const res = await requestText({ connect: () => connect(sock) }, method, path, {
      body,
      headers: id ? { "x-request-id": id } : {},
      timeoutMs,
    });
    return { status: res.status, body: jsonOrText(res.text) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ECONNREFUSED") return null;
    // A daemon that accepts and never answers (stuck) made `status` and `doctor` wait for ever.
    if (code === "ETIMEDOUT")
      throw new UserError(
        `the hub daemon did not answer ${method} ${path} on its socket ${sock} within ${(timeoutMs ?? 0) / 1000} s: it accepts connections but does not answer (stuck, or overloaded); its log: \`journalctl -u porthole-hub\`; \`systemctl restart porthole-hub\` restarts it`,
        EXIT.host,
      );
    throw e;
  }
}

/**
 * Waits until the daemon's API answers on its socket (a daemon just started by systemd needs a few
 * seconds); true when it did within `timeoutMs` (0: one try; each waits up to 5 s for an answer).
 */
export async function waitForDaemon(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(5000, deadline - Date.now());
    if (await overSocket("GET", "/v1/peers", undefined, left).catch(() => null)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Said after a change made while the hub is down (see HubContext.isDown). */
export const HUB_DOWN =
  "porthole: the hub is down on this machine (nothing of it is applied, as after `porthole down`): the change is in its spec and takes effect when the hub is brought back: `porthole apply`, then `systemctl enable --now porthole-hub` (without systemd: `porthole hub run` under your own supervisor)";

/** What to run when the hub daemon is needed and not running. */
export const START_DAEMON =
  "start it with `systemctl start porthole-hub` (or run `porthole hub run` under your own supervisor)";

/**
 * Why a change is refused on a hub set up with `hub init` whose daemon does not run. Applied here, in
 * this process, it would bring back what `systemctl stop porthole-hub` took down (tunnel, rules) outside
 * the unit, with nothing to repair them or answer the peers; `porthole apply` is the deliberate way.
 */
export const DAEMON_STOPPED = `the hub daemon is not running — ${START_DAEMON}; nothing was changed (this hub was set up with \`hub init\`: its changes go through its daemon; to apply a spec edited by hand without it: \`porthole apply\`)`;

/** `needsDaemon`: refuse (exit 3) when the daemon does not run; `args`: name refused fields as the command's arguments. */
export interface HubOptions {
  needsDaemon?: boolean;
  args?: ArgNames;
  /** Bounds the request over the socket (default: SOCKET_READ_MS for a GET, none for a change). */
  timeoutMs?: number;
}

/**
 * Calls the hub API as root; throws a UserError with the API's message on failure (a refused field
 * named by the command's argument that set it, `opts.args`: hub-words.ts). Without the
 * daemon the same API runs in-process, except for what only a running daemon can do (`needsDaemon`:
 * a join token is useless unless the daemon's API answers through the tunnel) and, on a hub whose
 * daemon is meant to run (`daemonManaged`) and that is up, any change but `apply` (DAEMON_STOPPED,
 * exit 3). A hub that is down (after `porthole down`) takes the change into its spec only (HUB_DOWN).
 */
export async function callHub(
  method: string,
  path: string,
  body?: unknown,
  opts: HubOptions = {},
): Promise<unknown> {
  let reply = await overSocket(method, path, body, opts.timeoutMs);
  if (!reply && opts.needsDaemon)
    throw new UserError(`the hub daemon is not running — ${START_DAEMON}; nothing was changed`, EXIT.host);
  if (!reply) {
    // No daemon: the API in-process (loaded only here; the usual path is the socket).
    const [{ hubApi }, { HubService }, { hostContext }, { readApplied }] = await Promise.all([
      import("../hub/api.ts"),
      import("../hub/service.ts"),
      import("./context.ts"),
      import("../reconcile/state.ts"),
    ]);
    const ctx = hostContext();
    // After `porthole down` nothing of the hub is applied here: a change goes into the spec only.
    const isDown = (await readApplied(ctx.host, stateDir()))?.role !== "hub";
    // A change (every request but a read and an apply of the spec as it is).
    const change = method !== "GET" && path !== "/v1/apply";
    if (change && !isDown && daemonManaged()) throw new UserError(DAEMON_STOPPED, EXIT.host);
    // ctx's unit kind as the hub was set up: a hub managed with `apply` keeps its oneshot unit.
    const service = new HubService(ctx, await hubStore());
    service.isDown = isDown;
    const res = await hubApi(service, "local").request(path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    reply = { status: res.status, body: jsonOrText(await res.text()) };
    if (service.isDown && change && res.status < 400) console.error(HUB_DOWN);
  }
  // 4xx: the request was refused (exit 1); 5xx: the hub could not do it, e.g. an apply that failed.
  if (reply.status >= 400)
    throw new UserError(
      inArgWords(
        errorMessage(reply.body, JSON.stringify(reply.body)),
        errorProblems(reply.body),
        opts.args ?? {},
      ),
      reply.status >= 500 ? EXIT.host : EXIT.invalid,
    );
  return reply.body;
}

/** The hub's API as root, typed route by route (see `callHub`). */
export const hub = (opts: HubOptions = {}) =>
  hubClient((method, path, body, timeoutMs) => callHub(method, path, body, { ...opts, timeoutMs }));
