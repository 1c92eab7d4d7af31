// The hub's HTTP API (JSON). It listens on the hub's tunnel address and on a root-only unix socket,
// never on the public interface. Identity is the WireGuard source address: cryptokey routing
// guarantees that a request from 10.8.0.2 comes from the holder of that peer's key.
//
// Every body is checked against its schema in src/protocol/requests.ts (unknown fields refused; a spec
// field's value by that field's schema, spec/fields.ts, as is a name in the path), is at most BODY_LIMIT bytes, and one source has at most PER_SOURCE requests in flight. What a peer that is
// not an admin receives is its own: its part of the spec, its forwards, its status and metrics.

import type { HttpBindings } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { formatCidr } from "../net/ip.ts";
import { formatRange } from "../net/ports.ts";
import { openApiDocument } from "../protocol/openapi.ts";
import {
  AddForwardRequest,
  AddPeerRequest,
  AppliedReport,
  CreateTokenRequest,
  checkRequest,
  EnrollRequest,
  ProbeReport,
  ReachabilityRequest,
} from "../protocol/requests.ts";
import type { ErrorReply, ForwardView } from "../protocol/responses.ts";
import { summedStatus } from "../protocol/status-summary.ts";
import { NameField } from "../spec/fields.ts";
import { checkValue } from "../spec/shape.ts";
import type { Forward } from "../spec/types.ts";
import type { Identity } from "./context.ts";
import { Conflict, Forbidden, Gone, type HubError, Invalid, NotFound } from "./errors.ts";
import { ConcurrencyLimiter } from "./limiter.ts";
import { renderMetrics, specValidMetric } from "./metrics.ts";
import { REQUEST_ID } from "./request-log.ts";
import type { HubService } from "./service.ts";
import { SpecRejected } from "./store.ts";

type Env = { Bindings: HttpBindings; Variables: { who: Identity } };

/** The largest request body accepted, in bytes: the biggest real one (a forward) is a few hundred. */
export const BODY_LIMIT = 8 * 1024;
/** Requests one source (a tunnel address) may have in flight at once; more get 429. */
export const PER_SOURCE = 4;

/**
 * Node's limits on the TCP listener (ms): a peer has 10 s to send a request's headers and 15 s for the
 * whole request, checked every second, so a slow sender holds a connection (or, sending its body, one
 * of its PER_SOURCE slots) that long at most. The answer may take as long as the apply does.
 */
export const API_SERVER_OPTIONS = {
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  connectionsCheckingInterval: 1_000,
};

/** The one place a domain error becomes an HTTP status. */
const STATUS: [new (...a: never[]) => HubError, ContentfulStatusCode][] = [
  [Invalid, 400],
  [Forbidden, 403],
  [NotFound, 404],
  [Conflict, 409],
  [Gone, 410],
];

export const forwardJson = (f: Forward): ForwardView => ({
  name: f.name,
  proto: f.protos.join("+"),
  port: formatRange(f.port),
  peer: f.peer,
  targetPort: formatRange(f.targetPort),
  mode: f.mode,
  allowFrom: f.allowFrom.map(formatCidr),
});

/** The request's JSON body, checked against `schema`; Invalid naming the field otherwise. */
async function body<T>(c: Context<Env>, schema: z.ZodType<T>): Promise<T> {
  let data: unknown;
  try {
    data = await c.req.json();
  } catch {
    throw new Invalid("the request body must be a JSON object");
  }
  const r = checkRequest(schema, data);
  if (!r.ok) throw new Invalid(r.message, r.field || undefined);
  return r.value;
}

/** A name in the path (`/v1/forwards/:name`), checked as the body's names are; Invalid naming it otherwise. */
function nameParam(c: Context<Env>): string {
  const r = checkValue(NameField, c.req.param("name"));
  if (!r.ok) throw new Invalid(`name: ${r.message}`, "name");
  return r.value;
}

export function hubApi(
  service: HubService,
  transport: "unix" | "tcp" | "local",
  opts: { perSource?: number } = {},
): Hono<Env> {
  const app = new Hono<Env>();
  const requests = service.requests;
  const limiter = new ConcurrencyLimiter(opts.perSource ?? PER_SOURCE);
  app.onError((e, c) => {
    const status = STATUS.find(([kind]) => e instanceof kind)?.[1];
    if (status) {
      const { field, problems } = e as HubError;
      return c.json<ErrorReply>({ error: e.message, field, problems }, status);
    }
    // A hand edit broke porthole.yaml: nothing can change until it is fixed (only root sees why).
    if (e instanceof SpecRejected)
      return c.json<ErrorReply>(
        {
          error: `the hub's spec file cannot be used (an error in it, or it is missing), so no change is possible until it is fixed${transport === "tcp" ? " (on the hub: `porthole validate`)" : `:\n${e.message}`}`,
        },
        409,
      );
    return c.json<ErrorReply>({ error: e.message }, 500);
  });
  const source = (c: Context<Env>) =>
    transport === "tcp" ? (c.env?.incoming?.socket?.remoteAddress ?? "").replace(/^::ffff:/, "") : undefined;
  // Over TCP (peers), a bound on requests in flight per tunnel address. Root's socket is not limited.
  app.use(async (c, next) => {
    const from = source(c);
    if (from === undefined) return next();
    if (!limiter.acquire(from)) {
      c.header("retry-after", "1");
      return c.json<ErrorReply>(
        { error: `${from} has ${limiter.perSource} requests in flight already; retry after 1 s` },
        429,
      );
    }
    try {
      await next();
    } finally {
      limiter.release(from);
    }
  });
  app.use(
    bodyLimit({
      maxSize: BODY_LIMIT,
      onError: (c) =>
        // Said for the one request a person makes grow: a forward's allow-list (`expose --allow` ×N).
        c.json<ErrorReply>(
          {
            error: `the request is larger than the hub accepts (${BODY_LIMIT} bytes); a forward's allow-list is what grows: give fewer, wider prefixes (192.0.2.0/24 for the 256 addresses in it)`,
          },
          413,
        ),
    }),
  );
  app.use(async (c, next) => {
    const who = await service.identify(source(c), transport);
    if (who.kind === "stranger")
      return c.json<ErrorReply>({ error: `${who.address} is not a peer of this hub` }, 403);
    c.set("who", who);
    await next();
  });

  // Changes with a request id happen once; the same id gets the first answer (see request-log.ts).
  const callerKey = (c: Context<Env>, id: string) => `${JSON.stringify(c.get("who"))} ${id}`;
  app.use(async (c, next) => {
    const id = c.req.header("x-request-id");
    if (id === undefined || c.req.method === "GET") return next();
    if (!REQUEST_ID.test(id))
      return c.json<ErrorReply>({ error: "x-request-id: 8-64 letters, digits, '-' or '_'" }, 400);
    const { outcome, replayed } = await requests.once(
      callerKey(c, id),
      async () => {
        await next();
        return { status: c.res.status, body: await c.res.clone().text() };
      },
      c.get("who").kind !== "root",
    );
    if (replayed)
      c.res = new Response(outcome.body, {
        status: outcome.status,
        headers: { "content-type": "application/json", "x-request-replayed": "1" },
      });
  });
  app.get("/v1/requests/:id", async (c) => c.json(await requests.state(callerKey(c, c.req.param("id")))));

  // Peers poll this (it doubles as their liveness probe) and fetch the spec when the hash changes: the
  // hash of the spec as they see it, so only a change to their own part makes them fetch.
  app.get("/v1/whoami", async (c) => {
    const who = c.get("who");
    if (who.kind === "enrolling") return c.json(who);
    const probe = service.probeTaskFor(who);
    return c.json({
      ...who,
      specHash: (await service.specFor(who)).hash,
      ...(probe ? { probe } : {}),
      ...service.heardFrom(who),
    });
  });
  // A peer's agent (or `porthole expose`) reports what it applied: status judges its forwards by it.
  app.post("/v1/applied", async (c) => {
    await service.reportApplied(c.get("who"), await body(c, AppliedReport));
    return c.json({ accepted: true });
  });
  app.get("/v1/spec", async (c) => c.text((await service.specFor(c.get("who"))).text));
  app.get("/v1/peers", async (c) => {
    service.requireAdmin(c.get("who"));
    return c.json(await service.peers());
  });
  app.post("/v1/peers", async (c) => {
    const b = await body(c, AddPeerRequest);
    const r = await service.addPeer(c.get("who"), b);
    return c.json({ name: b.name, address: r.address, privateKey: r.privateKey }, 201);
  });
  app.delete("/v1/peers/:name", async (c) => c.json(await service.removePeer(c.get("who"), nameParam(c))));
  app.get("/v1/tokens", async (c) => c.json(await service.pendingTokens(c.get("who"))));
  app.post("/v1/tokens", async (c) => {
    const b = await body(c, CreateTokenRequest);
    return c.json(
      await service.createToken(c.get("who"), { ...b, expiresSeconds: b.expiresSeconds ?? 3600 }),
      201,
    );
  });
  app.post("/v1/enroll", async (c) => {
    const b = await body(c, EnrollRequest);
    return c.json(await service.enroll(c.get("who"), b), 201);
  });
  app.get("/v1/forwards", async (c) => c.json((await service.forwards(c.get("who"))).map(forwardJson)));
  app.post("/v1/forwards", async (c) => {
    const f = await service.addForward(c.get("who"), await body(c, AddForwardRequest));
    return c.json(f ? forwardJson(f) : {}, 201);
  });
  app.delete("/v1/forwards/:name", async (c) =>
    c.json(forwardJson(await service.removeForward(c.get("who"), nameParam(c)))),
  );
  app.get("/v1/status", async (c) => {
    // ?forwards=summary: a large hub's forwards summed up (what `porthole status` prints), not each.
    const view = c.req.query("forwards");
    if (view !== undefined && view !== "summary")
      throw new Invalid(
        `forwards: ${JSON.stringify(view)} is not accepted; give "summary", or leave it out for every forward`,
        "forwards",
      );
    const s = await service.statusFor(c.get("who"));
    return c.json(view ? summedStatus(s) : s);
  });
  app.post("/v1/apply", async (c) => {
    service.requireAdmin(c.get("who"));
    const r = await service.reconcile(true);
    return c.json({ changed: r.changed, lines: r.lines, warnings: r.warnings });
  });
  // Reachable from the outside: an admin asks, a peer probes (task in its whoami answer) and reports.
  app.post("/v1/reachability", async (c) => {
    // An empty body asks with no options.
    const req = (await c.req.text()).trim() ? await body(c, ReachabilityRequest) : {};
    return c.json(await service.reachability(c.get("who"), req));
  });
  app.post("/v1/probes/:id", async (c) => {
    service.reportProbe(c.get("who"), c.req.param("id"), await body(c, ProbeReport));
    return c.json({ accepted: true });
  });
  app.get("/v1/openapi.json", (c) => c.json(openApiDocument()));
  // A peer that is not an admin gets its own series, and the hub's apply counters (no names in them).
  app.get("/metrics", async (c) =>
    c.text(
      renderMetrics(await service.statusFor(c.get("who"), false), service.stats) +
        specValidMetric((await service.specProblem()) === null),
      200,
      { "content-type": "text/plain; version=0.0.4" },
    ),
  );
  return app;
}
