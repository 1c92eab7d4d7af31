// A peer talks to the hub's API through the tunnel; the hub knows it by its tunnel address.
import { Agent } from "node:http";
import { connect } from "node:net";
import { errorMessage, errorProblems, hubClient, jsonOrText } from "../protocol/client.ts";
import type { FieldProblem, RequestStateReply } from "../protocol/responses.ts";
import { requestText, type TextReply } from "./http.ts";

export class HubUnreachable extends Error {
  /** The hub's kernel refused the connection: the request never reached the daemon. */
  refused = false;
}
/** The hub answered ≥ 400: its message, and each refused field apart when it gave them. */
export class HubRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems?: FieldProblem[],
  ) {
    super(message);
  }
}

/** How long a change whose answer was lost is followed up while the hub does not answer at all. */
export const RECOVER_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One request to the hub's API. A change (not GET) carries a request id: when its answer is lost or
 * slow (a long apply), the client asks the hub what became of it (`GET /v1/requests/ID`) for as long
 * as the hub says it runs, and sends it again (same id: it happens once) if it never arrived, so a
 * change that happened is never reported as failed. `recover: false` leaves retrying to the caller
 * (who passes its own `requestId` for every attempt).
 */
export async function hubRequest(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5000,
  opts: {
    requestId?: string;
    recover?: boolean;
    /** Told once, in words, when the first attempt got no answer and the follow-up begins. */
    onWait?: (message: string) => void;
    /** Through this process's keep-alive pool (the peer agent, which asks every 2 s), not a connection of its own. */
    keepAlive?: boolean;
  } = {},
): Promise<unknown> {
  const keep = !!opts.keepAlive;
  if (method === "GET") return send(base, method, path, body, timeoutMs, undefined, keep);
  // node:crypto only for a change: a GET (status) starts without its ~15 internal modules.
  const id = opts.requestId ?? (await import("node:crypto")).randomUUID();
  const again = () => send(base, method, path, body, timeoutMs, id, keep);
  try {
    return await again();
  } catch (e) {
    if (!(e instanceof HubUnreachable) || e.refused || opts.recover === false) throw e;
  }
  opts.onWait?.(
    `no answer from the hub through the tunnel (${base}) within ${timeoutMs / 1000} s; asking it what became of this change for up to ${RECOVER_MS / 1000} s more (Ctrl-C stops asking; the change may still happen)`,
  );
  let deadline = Date.now() + RECOVER_MS;
  for (;;) {
    await sleep(1000);
    let st: RequestStateReply;
    try {
      st = await hubClient((m, p) => send(base, m, p, undefined, timeoutMs, undefined, keep)).requestState(
        id,
      );
    } catch (e) {
      if (e instanceof HubUnreachable && Date.now() < deadline) continue;
      throw e instanceof HubUnreachable
        ? new HubUnreachable(`${e.message}; whether the change (request ${id}) happened is unknown`)
        : e;
    }
    deadline = Date.now() + RECOVER_MS; // the hub answers: wait for as long as the change takes
    if (st.state === "done") {
      if ((st.status ?? 500) >= 400)
        throw new HubRefused(
          st.status ?? 500,
          errorMessage(st.body, JSON.stringify(st.body)),
          errorProblems(st.body),
        );
      return st.body;
    }
    if (st.state === "unknown") {
      try {
        return await again();
      } catch (e) {
        if (!(e instanceof HubUnreachable) || e.refused) throw e;
      }
    }
  }
}

/**
 * One keep-alive pool per process, for the peer agent's requests (`keepAlive`). An idle connection is
 * closed after 4 s, before the hub's server closes it (node's keepAliveTimeout, 5 s), so none goes out
 * on a connection the hub is closing; one the hub closed unseen (its FIN lost as the tunnel went down,
 * a reboot) is reset, and requestText sends the request again on a new one.
 */
let kept: Agent | undefined;
const keptAgent = () => (kept ??= new Agent({ keepAlive: true, maxSockets: 2, timeout: 4000 }));

async function send(
  base: string,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  requestId?: string,
  keepAlive = false,
): Promise<unknown> {
  let res: TextReply;
  try {
    const { hostname, port } = new URL(base);
    const to = { host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 80) };
    const via = keepAlive ? { agent: keptAgent(), ...to } : { connect: () => connect(to) };
    res = await requestText(via, method, path, {
      body,
      headers: requestId ? { "x-request-id": requestId } : {},
      timeoutMs,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Refused: the tunnel carried the request and the hub's kernel answered, but nothing listens.
    // Silence has a third cause a peer cannot tell from the other two: removed on the hub (`peer rm`),
    // the hub drops its packets as it does any unknown key's.
    const refused = code === "ECONNREFUSED";
    const why = refused
      ? "the hub answered through the tunnel, but its API is not listening: the hub daemon is not running"
      : "the hub did not answer through the tunnel; its daemon may be down, the tunnel may be, or this peer was removed on the hub";
    const next = refused
      ? "on the hub, `porthole status` shows the daemon's state"
      : "here, `porthole doctor` checks the tunnel; on the hub, `porthole status` shows the daemon's state and `porthole peer ls` whether this peer is still there";
    const err = new HubUnreachable(`${why} (${base}: ${code ?? (e as Error).message}); ${next}`);
    err.refused = refused;
    throw err;
  }
  const parsed = jsonOrText(res.text);
  if (res.status >= 400)
    throw new HubRefused(res.status, errorMessage(parsed, res.text), errorProblems(parsed));
  return parsed;
}

/** The hub's API at `base` (http://ADDRESS:PORT inside the tunnel), typed route by route. */
export const peerClient = (
  base: string,
  opts: { requestId?: string; recover?: boolean; keepAlive?: boolean } = {},
) => hubClient((method, path, body, timeoutMs) => hubRequest(base, method, path, body, timeoutMs, opts));
