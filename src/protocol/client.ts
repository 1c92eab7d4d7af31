// One typed client for the hub's API, shared by the peer (over the tunnel) and the CLI on the hub (over
// the root socket, or in-process): each route is a function taking its request type and returning its
// reply type, parsed against the schema in responses.ts. How a request travels is the caller's
// `Transport`, so this module does no I/O.
import type { z } from "zod";
import type {
  AddForwardRequest,
  AddPeerRequest,
  AppliedReport,
  CreateTokenRequest,
  EnrollRequest,
  ProbeReport,
  ReachabilityRequest,
} from "./requests.ts";
// The reply schemas load on first use: `porthole status` through the daemon parses none and starts
// without zod.
import type * as Replies from "./responses.ts";
import type { HubStatus, PeerStatus } from "./status.ts";

/**
 * Sends one request and resolves to the reply's body (JSON parsed, or text); rejects when the hub
 * refuses (status ≥ 400) or cannot be reached. `timeoutMs` bounds the whole request when given.
 */
export type Transport = (
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
) => Promise<unknown>;

/** The hub answered something that is not the route's reply shape (a version mismatch, a proxy). */
export class BadReply extends Error {}

async function parse<T>(
  schema: (r: typeof Replies) => z.ZodType<T>,
  route: string,
  body: unknown,
): Promise<T> {
  const r = schema(await import("./responses.ts")).safeParse(body);
  if (!r.success)
    throw new BadReply(
      `${route}: the hub's reply is not what this porthole expects: ${r.error.issues[0]?.message}`,
    );
  return r.data;
}

function text(route: string, body: unknown): string {
  if (typeof body !== "string") throw new BadReply(`${route}: the hub's reply is not text`);
  return body;
}

// The status is the hub's own data structure, built by the same code version as this client's types;
// its shape is checked where it is produced (hub/status.ts), so it is taken as typed here.
const asStatus = (body: unknown) => body as HubStatus;

const name = (n: string) => encodeURIComponent(n);

/** The API answers JSON, except for the spec (plain text). */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Each refused field of an error reply (`{ problems }`); undefined when it has none (or is no error reply). */
export function errorProblems(body: unknown): Replies.FieldProblem[] | undefined {
  const list = typeof body === "object" && body !== null && "problems" in body ? body.problems : undefined;
  if (!Array.isArray(list)) return undefined;
  const ok = list.every((p) => typeof p?.field === "string" && typeof p?.message === "string");
  return ok ? (list as Replies.FieldProblem[]) : undefined;
}

/** The message of an error reply (`{ error }`), else the body as it came. */
export function errorMessage(body: unknown, fallback: string): string {
  const error = typeof body === "object" && body !== null && "error" in body ? body.error : undefined;
  return typeof error === "string" ? error : fallback;
}

/** The API's routes as typed functions over `send`. */
export function hubClient(send: Transport) {
  return {
    whoami: async (timeoutMs?: number) =>
      parse((r) => r.WhoamiReply, "GET /v1/whoami", await send("GET", "/v1/whoami", undefined, timeoutMs)),
    /** The spec as this caller may see it (YAML text). */
    spec: async () => text("GET /v1/spec", await send("GET", "/v1/spec")),
    /** `summary`: a large hub's forwards summed up (HubStatus.forwardSummary), else every forward. */
    status: async (summary = false) =>
      asStatus(await send("GET", summary ? "/v1/status?forwards=summary" : "/v1/status")),
    peers: async (): Promise<PeerStatus[]> =>
      parse((r) => r.PeerStatusReply.array(), "GET /v1/peers", await send("GET", "/v1/peers")),
    addPeer: async (req: AddPeerRequest) =>
      parse((r) => r.AddPeerReply, "POST /v1/peers", await send("POST", "/v1/peers", req)),
    removePeer: async (peer: string) =>
      parse((r) => r.RemovePeerReply, "DELETE /v1/peers", await send("DELETE", `/v1/peers/${name(peer)}`)),
    tokens: async () =>
      parse((r) => r.PendingTokenView.array(), "GET /v1/tokens", await send("GET", "/v1/tokens")),
    createToken: async (req: CreateTokenRequest) =>
      parse((r) => r.CreateTokenReply, "POST /v1/tokens", await send("POST", "/v1/tokens", req)),
    enroll: async (req: EnrollRequest, timeoutMs?: number) =>
      parse((r) => r.EnrollReply, "POST /v1/enroll", await send("POST", "/v1/enroll", req, timeoutMs)),
    forwards: async () =>
      parse((r) => r.ForwardView.array(), "GET /v1/forwards", await send("GET", "/v1/forwards")),
    addForward: async (req: AddForwardRequest) =>
      parse((r) => r.ForwardView, "POST /v1/forwards", await send("POST", "/v1/forwards", req)),
    removeForward: async (forward: string) =>
      parse(
        (r) => r.ForwardView,
        "DELETE /v1/forwards",
        await send("DELETE", `/v1/forwards/${name(forward)}`),
      ),
    /** What became of the change sent with x-request-id `id`: "running", "done" (with its answer), "unknown". */
    requestState: async (id: string) =>
      parse((r) => r.RequestStateReply, "GET /v1/requests", await send("GET", `/v1/requests/${name(id)}`)),
    apply: async () => parse((r) => r.ApplyReply, "POST /v1/apply", await send("POST", "/v1/apply")),
    /**
     * Asks a connected peer to probe the hub's public ports from the internet (admins and root); waits
     * for its report (a few seconds: the peer's agent picks the task up on its next tick).
     */
    reachability: async (req: ReachabilityRequest = {}) =>
      parse(
        (r) => r.ReachabilityReply,
        "POST /v1/reachability",
        await send("POST", "/v1/reachability", req, 30_000),
      ),
    /** A peer's report of what it applied last (its agent's, or `porthole expose`'s apply). */
    reportApplied: async (report: AppliedReport) => send("POST", "/v1/applied", report, 5000),
    /** A peer's report of the probe task `id` its whoami answer carried. */
    reportProbe: async (id: string, report: ProbeReport) =>
      send("POST", `/v1/probes/${name(id)}`, report, 5000),
  };
}

export type HubClient = ReturnType<typeof hubClient>;
