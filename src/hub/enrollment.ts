// Join tokens and enrollment: a token names the peer-to-be and carries an enrollment key the hub
// accepts until the peer registers its own key through it (or the token expires or is revoked).

import { formatAddr } from "../net/ip.ts";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../net/wgkey.ts";
import type { Enrolling } from "../plan/plan.ts";
import { makeToken, tokenId, verifyToken } from "../protocol/tokens.ts";
import { NAME_RE, NAME_RULE } from "../spec/defaults.ts";
import { endpointText } from "../spec/endpoint.ts";
import type { HubContext, Identity } from "./context.ts";
import { Conflict, Forbidden, Gone, Invalid } from "./errors.ts";
import { activeEnrolling, type PendingToken } from "./runtime.ts";

/** Join tokens not used yet: name, admin, expiry (ISO 8601) and whether it has expired. */
export async function pendingTokens(hub: HubContext, who: Identity) {
  hub.requireAdmin(who);
  const now = hub.now();
  return (await hub.runtime.load()).tokens
    .filter((t) => !t.usedAt)
    .map((t) => ({
      name: t.name,
      admin: t.admin,
      expires: new Date(t.expires).toISOString(),
      expired: t.expires <= now,
    }));
}

export async function createToken(
  hub: HubContext,
  who: Identity,
  input: { name: string; admin?: boolean; expiresSeconds: number },
) {
  hub.requireAdmin(who);
  return hub.serial(async () => {
    const { spec } = await hub.store.load();
    // The name the hub will accept at enrollment, checked now: a token for a refused name cannot work.
    if (!NAME_RE.test(input.name))
      throw new Invalid(`name: ${JSON.stringify(input.name)} is not a valid name; use ${NAME_RULE}`, "name");
    if (input.name === spec.hub.name)
      throw new Conflict(`name: "${input.name}" is the hub's name; pick another`, "name");
    if (spec.peers.some((p) => p.name === input.name))
      throw new Conflict(
        `a peer named "${input.name}" exists already (\`porthole peer rm ${input.name}\` first, to make it join again)`,
        "name",
      );
    const runtime = await hub.runtime.load();
    const waiting = runtime.tokens.find((t) => t.name === input.name && !t.usedAt && t.expires > hub.now());
    if (waiting) throw new Conflict(pendingTokenProblem(input.name, waiting.expires), "name");
    const ephemeral = generatePrivateKey();
    const id = Math.floor(hub.now()).toString(36) + Math.random().toString(36).slice(2, 6);
    const pending: PendingToken = {
      id,
      name: input.name,
      admin: !!input.admin,
      expires: hub.now() + input.expiresSeconds * 1000,
      publicKey: publicKeyOf(ephemeral),
      address: await hub.freeAddress(spec, true),
    };
    await hub.runtime.update((r) => {
      r.tokens.push(pending);
    });
    await hub.reconcileNow();
    const token = makeToken(await hub.runtime.secret(), {
      i: id,
      n: input.name,
      h: endpointText(spec.hub.endpoint),
      k: spec.hub.publicKey,
      x: ephemeral,
      a: pending.address,
      m: spec.hub.subnet.prefix,
      s: formatAddr(spec.hub.address),
      p: spec.hub.apiPort,
      e: Math.floor(pending.expires / 1000),
    });
    return { token, expires: new Date(pending.expires).toISOString() };
  });
}

/** A new peer, talking through its enrollment key, registers its own public key. */
export async function enroll(hub: HubContext, who: Identity, input: { token: string; publicKey: string }) {
  return hub.serial(async () => {
    if (!verifyToken(await hub.runtime.secret(), input.token ?? "")) {
      throw new Forbidden("this token was not made by this hub, or was altered", "token");
    }
    const runtime = await hub.runtime.load();
    const id = tokenId(input.token);
    const t = runtime.tokens.find((x) => x.id === id);
    if (!t) throw new Gone("this token is unknown here (revoked, or used and forgotten)", "token");
    if (t.usedAt) throw new Conflict("this token was used already; ask for a new one", "token");
    if (t.expires <= hub.now()) throw new Gone("this token has expired; ask for a new one", "token");
    if (who.kind !== "enrolling" || who.tokenId !== t.id) {
      throw new Forbidden("enroll through the tunnel opened with this token's key", "token");
    }
    const problem = keyProblem(input.publicKey);
    if (problem) throw new Invalid(`publicKey: ${problem}`, "publicKey");
    const { spec } = await hub.store.load();
    const address = await hub.freeAddress(spec, false);
    const entry: Record<string, unknown> = { name: t.name, publicKey: input.publicKey, address };
    if (t.admin) entry.admin = true;
    const next = await hub.change([{ append: "peers", item: entry }]);
    const usedAt = hub.now();
    await hub.runtime.update((r) => {
      for (const x of r.tokens) if (x.id === t.id) x.usedAt = usedAt;
    });
    const self: Identity = { kind: "peer", name: t.name, admin: t.admin, publicKey: input.publicKey };
    return { name: t.name, address, spec: (await hub.specFor(self)).text, peers: next.peers.length };
  });
}

/** Drops expired and used enrollment keys; reconciles when that changes what the hub carries. */
export async function pruneTokens(hub: HubContext): Promise<boolean> {
  return hub.serial(async () => {
    const runtime = await hub.runtime.load();
    const now = hub.now();
    const before = JSON.stringify(activeEnrolling(runtime, now - 1));
    const kept = runtime.tokens.filter(
      (t) => t.expires > now && (t.usedAt === undefined || now - t.usedAt < 60_000),
    );
    const changed = kept.length !== runtime.tokens.length;
    if (changed) {
      const gone = new Set(runtime.tokens.filter((t) => !kept.includes(t)).map((t) => t.id));
      await hub.runtime.update((r) => {
        r.tokens = r.tokens.filter((t) => !gone.has(t.id));
      });
    }
    if (changed || before !== JSON.stringify(activeEnrolling(runtime, now))) {
      await hub.reconcileNow();
      return true;
    }
    return false;
  });
}

export function enrollingNow(hub: HubContext): Promise<Enrolling[]> {
  return hub.runtime.load().then((r) => activeEnrolling(r, hub.now()));
}

/** A name whose join token is still pending: when it expires, and how to make a new one now. */
export function pendingTokenProblem(name: string, expires: number): string {
  return `"${name}" has a pending join token already (until ${new Date(expires).toISOString()}): \`porthole peer rm ${name}\` revokes it, then add it again for a new one`;
}
