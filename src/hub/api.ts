// The hub's HTTP API (JSON). It listens on the hub's tunnel address and on a root-only unix socket,
// never on the public interface. Identity is the WireGuard source address: cryptokey routing
// guarantees that a request from 10.8.0.2 comes from the holder of that peer's key.

import type { HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import { formatCidr } from "../net/ip.ts";
import { formatRange } from "../net/ports.ts";
import type { Forward } from "../spec/types.ts";
import { renderMetrics } from "./metrics.ts";
import { type HubService, type Identity, RequestError } from "./service.ts";

type Env = { Bindings: HttpBindings; Variables: { who: Identity } };

export const forwardJson = (f: Forward) => ({
  name: f.name,
  proto: f.protos.join("+"),
  port: formatRange(f.port),
  peer: f.peer,
  targetPort: formatRange(f.targetPort),
  mode: f.mode,
  allowFrom: f.allowFrom.map(formatCidr),
});

async function body(c: { req: { json(): Promise<unknown> } }): Promise<Record<string, unknown>> {
  try {
    const b = await c.req.json();
    if (b && typeof b === "object" && !Array.isArray(b)) return b as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RequestError(400, "the request body must be a JSON object");
}

function str(b: Record<string, unknown>, field: string, required = true): string | undefined {
  const v = b[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string" || !v)
    throw new RequestError(400, `${field}: ${JSON.stringify(v)} is not accepted; expected text`, field);
  return v;
}

export function hubApi(service: HubService, transport: "unix" | "tcp" | "local"): Hono<Env> {
  const app = new Hono<Env>();
  app.onError((e, c) => {
    if (e instanceof RequestError) return c.json({ error: e.message, field: e.field }, e.status);
    return c.json({ error: e.message }, 500);
  });
  app.use(async (c, next) => {
    const address = transport === "tcp" ? c.env?.incoming?.socket?.remoteAddress : undefined;
    const who = await service.identify(address, transport);
    if (who.kind === "stranger") return c.json({ error: `${who.address} is not a peer of this hub` }, 403);
    c.set("who", who);
    await next();
  });

  // Peers poll this (it doubles as their liveness probe) and fetch the spec when the hash changes.
  app.get("/v1/whoami", async (c) =>
    c.json({ ...c.get("who"), specHash: (await service.store.load()).hash }),
  );
  app.get("/v1/spec", async (c) => {
    if (c.get("who").kind === "enrolling") throw new RequestError(403, "enroll first");
    return c.text((await service.store.load()).text);
  });
  app.get("/v1/peers", async (c) => {
    service.requireAdmin(c.get("who"));
    return c.json(await service.peers());
  });
  app.post("/v1/peers", async (c) => {
    const b = await body(c);
    const r = await service.addPeer(c.get("who"), {
      name: str(b, "name") as string,
      admin: b.admin === true,
      device: b.device === true,
      publicKey: str(b, "publicKey", false),
    });
    return c.json({ name: b.name, address: r.address, privateKey: r.privateKey }, 201);
  });
  app.delete("/v1/peers/:name", async (c) =>
    c.json(await service.removePeer(c.get("who"), c.req.param("name"))),
  );
  app.post("/v1/tokens", async (c) => {
    const b = await body(c);
    const expires = b.expiresSeconds ?? 3600;
    if (typeof expires !== "number" || expires < 60 || expires > 7 * 86400) {
      throw new RequestError(
        400,
        `expiresSeconds: ${JSON.stringify(expires)} is not accepted; 60 to 604800 seconds`,
        "expiresSeconds",
      );
    }
    return c.json(
      await service.createToken(c.get("who"), {
        name: str(b, "name") as string,
        admin: b.admin === true,
        expiresSeconds: expires,
      }),
      201,
    );
  });
  app.post("/v1/enroll", async (c) => {
    const b = await body(c);
    return c.json(
      await service.enroll(c.get("who"), {
        token: str(b, "token") as string,
        publicKey: str(b, "publicKey") as string,
      }),
      201,
    );
  });
  app.get("/v1/forwards", async (c) => c.json((await service.forwards(c.get("who"))).map(forwardJson)));
  app.post("/v1/forwards", async (c) => {
    const b = await body(c);
    const f = await service.addForward(c.get("who"), {
      name: str(b, "name", false),
      proto: str(b, "proto", false),
      port: b.port as number | string,
      targetPort: b.targetPort as number | string | undefined,
      peer: str(b, "peer", false),
      mode: str(b, "mode", false),
      allowFrom: Array.isArray(b.allowFrom) ? (b.allowFrom as string[]) : undefined,
    });
    return c.json(f ? forwardJson(f) : {}, 201);
  });
  app.delete("/v1/forwards/:name", async (c) =>
    c.json(forwardJson(await service.removeForward(c.get("who"), c.req.param("name")))),
  );
  app.get("/v1/status", async (c) => {
    const who = c.get("who");
    if (who.kind === "enrolling") throw new RequestError(403, "enroll first");
    const s = await service.status();
    if (who.kind === "peer" && !who.admin) {
      return c.json({
        ...s,
        peers: s.peers.filter((p) => p.name === who.name),
        forwards: s.forwards.filter((f) => f.peer === who.name),
      });
    }
    return c.json(s);
  });
  app.post("/v1/apply", async (c) => {
    service.requireAdmin(c.get("who"));
    const r = await service.reconcile();
    return c.json({ changed: r.changed, lines: r.lines });
  });
  app.get("/metrics", async (c) => {
    if (c.get("who").kind === "enrolling") throw new RequestError(403, "enroll first");
    return c.text(renderMetrics(await service.status(false), service.stats), 200, {
      "content-type": "text/plain; version=0.0.4",
    });
  });
  return app;
}
