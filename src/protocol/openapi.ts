// The API as an OpenAPI 3.0 document, built from the request schemas (served at /v1/openapi.json and
// committed as docs/openapi.json; a test keeps the two equal).
import * as z from "zod";
import {
  AddForwardRequest,
  AddPeerRequest,
  AppliedReport,
  CreateTokenRequest,
  EnrollRequest,
  ProbeReport,
  ReachabilityRequest,
} from "./requests.ts";
import { PeerStatusReply } from "./responses.ts";

type Who = "peers" | "admins" | "enrolling";

interface Route {
  method: "get" | "post" | "delete";
  path: string;
  summary: string;
  /** Who may call it (root's unix socket always may). */
  who: Who[];
  body?: z.ZodType;
  ok: 200 | 201;
  /** Refusals particular to this route (every route may answer 403, 413 and 429). */
  errors?: number[];
  /** The answer is text, not JSON. */
  text?: boolean;
  /** The JSON answer's schema, where one is written down (the others: see src/protocol). */
  reply?: z.ZodType;
  /** Optional query parameters: name, the values accepted, what they do. */
  query?: { name: string; values: string[]; description: string }[];
}

export const ROUTES: Route[] = [
  {
    method: "get",
    path: "/v1/whoami",
    summary:
      "Who the caller is, and the hash of the spec as it sees it (peers poll this; it doubles as their liveness probe)",
    who: ["peers", "enrolling"],
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/spec",
    summary:
      "The spec (YAML): all of it for admins; for other peers the hub section, their own entry and their own forwards",
    who: ["peers"],
    ok: 200,
    text: true,
  },
  {
    method: "get",
    path: "/v1/peers",
    summary: "Every peer and whether it is online (null: not known, the hub's interface is down)",
    who: ["admins"],
    ok: 200,
    reply: z.array(PeerStatusReply),
  },
  {
    method: "post",
    path: "/v1/peers",
    summary: "Add a peer with a known key, or a device whose key the hub makes",
    who: ["admins"],
    body: AddPeerRequest,
    errors: [400, 409],
    ok: 201,
  },
  {
    method: "delete",
    path: "/v1/peers/{name}",
    summary: "Remove a peer and its forwards",
    who: ["admins"],
    errors: [404],
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/tokens",
    summary: "Join tokens not used yet: name, admin, expiry",
    who: ["admins"],
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/tokens",
    summary: "A one-time join token for a new peer",
    who: ["admins"],
    body: CreateTokenRequest,
    errors: [400, 409],
    ok: 201,
  },
  {
    method: "post",
    path: "/v1/enroll",
    summary: "A new peer registers its public key, through the tunnel opened with its token's key",
    who: ["enrolling"],
    body: EnrollRequest,
    errors: [400, 409, 410],
    ok: 201,
  },
  {
    method: "get",
    path: "/v1/forwards",
    summary: "Forwards: all for admins, a peer's own for other peers",
    who: ["peers"],
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/forwards",
    summary: "Add a forward (peers that are not admins: to themselves, within hub.limits)",
    who: ["peers"],
    body: AddForwardRequest,
    errors: [400],
    ok: 201,
  },
  {
    method: "delete",
    path: "/v1/forwards/{name}",
    summary: "Remove a forward (peers that are not admins: their own; another's is 404 like a missing one)",
    who: ["peers"],
    errors: [404],
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/status",
    summary:
      "Peers and forwards with their counters, as counted at `countedAt` (the hub may answer with its last count; filtered like /v1/forwards)",
    who: ["peers"],
    ok: 200,
    reply: z
      .looseObject({
        hub: z.looseObject({ up: z.boolean() }),
        peers: z.array(PeerStatusReply),
      })
      .meta({
        description:
          "Also forwards, firewall, specProblem and forwardSummary (see src/protocol/status.ts HubStatus).",
      }),
    errors: [400],
    query: [
      {
        name: "forwards",
        values: ["summary"],
        description:
          "summary: more than 100 forwards summed up (forwardSummary), `forwards` holding only the first 20 that do not work, may be dropped, or whose peer is not in step; absent: every forward",
      },
    ],
  },
  { method: "post", path: "/v1/apply", summary: "Reconcile the hub now", who: ["admins"], ok: 200 },
  {
    method: "post",
    path: "/v1/reachability",
    summary:
      "Ask a connected peer to probe the hub's public ports over its own internet path (TCP connect; WireGuard by its handshake); waits for its report",
    who: ["admins"],
    body: ReachabilityRequest,
    errors: [400, 404],
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/probes/{id}",
    summary: "A peer reports the probe task its whoami answer carried (only the peer it was given to)",
    who: ["peers"],
    body: ProbeReport,
    errors: [400, 404],
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/applied",
    summary:
      "A peer reports its last apply of the spec (its agent does after each, and when its whoami answer's `applied` differs): status says a forward works only when its agent peer applied the spec the hub serves it",
    who: ["peers"],
    body: AppliedReport,
    errors: [400, 404],
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/requests/{id}",
    summary:
      "What became of the caller's change sent with x-request-id: done (with its answer), running, or unknown",
    who: ["peers", "enrolling"],
    ok: 200,
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus text (filtered like /v1/status, plus the hub's apply counters)",
    who: ["peers"],
    ok: 200,
    text: true,
  },
  { method: "get", path: "/v1/openapi.json", summary: "This document", who: ["peers"], ok: 200 },
];

const ERRORS: Record<number, string> = {
  400: "the body or a field is not accepted (error names the field)",
  403: "the caller may not do this (not a peer, not an admin, or over a quota)",
  404: "no such thing, or not the caller's",
  409: "clashes with the current state",
  410: "gone (an expired or forgotten token)",
  413: "body larger than 8 KiB",
  429: "too many requests in flight from this address (see Retry-After)",
};

const errorReply = { $ref: "#/components/schemas/ErrorReply" };

/** The OpenAPI document of the hub's API. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = [
      ...(/\{name\}/.test(r.path)
        ? [{ name: "name", in: "path", required: true, schema: { type: "string" } }]
        : []),
      ...(r.query ?? []).map((q) => ({
        name: q.name,
        in: "query",
        required: false,
        description: q.description,
        schema: { type: "string", enum: q.values },
      })),
    ];
    const errors = [403, 413, 429, ...(r.errors ?? [])];
    paths[r.path] = {
      ...paths[r.path],
      [r.method]: {
        summary: r.summary,
        description: `Callers: ${r.who.join(", ")} (and root, over the unix socket).`,
        ...(params.length ? { parameters: params } : {}),
        ...(r.body
          ? {
              requestBody: {
                required: true,
                content: {
                  "application/json": { schema: z.toJSONSchema(r.body, { target: "openapi-3.0" }) },
                },
              },
            }
          : {}),
        responses: {
          [r.ok]: {
            description: "ok",
            content: r.text
              ? { "text/plain": { schema: { type: "string" } } }
              : {
                  "application/json": r.reply
                    ? { schema: z.toJSONSchema(r.reply, { target: "openapi-3.0" }) }
                    : {},
                },
          },
          ...Object.fromEntries(
            [...new Set(errors)]
              .sort()
              .map((s) => [
                s,
                { description: ERRORS[s], content: { "application/json": { schema: errorReply } } },
              ]),
          ),
        },
      },
    };
  }
  return {
    openapi: "3.0.3",
    info: {
      title: "porthole hub API",
      version: "1",
      description:
        "Served on the hub's tunnel address (the caller is known by its WireGuard source address) and on a root-only unix socket.",
    },
    paths,
    components: {
      schemas: {
        ErrorReply: {
          type: "object",
          properties: {
            error: { type: "string" },
            field: { type: "string" },
            problems: {
              type: "array",
              description: "each refused field apart; error is them joined as 'field: message; …'",
              items: {
                type: "object",
                properties: { field: { type: "string" }, message: { type: "string" } },
                required: ["field", "message"],
              },
            },
          },
          required: ["error"],
        },
      },
    },
  };
}
