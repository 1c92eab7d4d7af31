// Peers: adding one (with a key made here or given), removing one with its forwards (or revoking its
// pending join token), and who is online.

import type { WgDumpPeer } from "../host/types.ts";
import { generatePrivateKey, publicKeyOf } from "../net/wgkey.ts";
import type { HubContext, Identity } from "./context.ts";
import { pendingTokenProblem } from "./enrollment.ts";
import { Conflict, NotFound } from "./errors.ts";
import { peerStatus } from "./status.ts";

export async function addPeer(
  hub: HubContext,
  who: Identity,
  input: { name: string; admin?: boolean; device?: boolean; publicKey?: string },
) {
  hub.requireAdmin(who);
  return hub.serial(async () => {
    const { spec } = await hub.store.load();
    const pending = (await hub.runtime.load()).tokens.find(
      (t) => t.name === input.name && !t.usedAt && t.expires > hub.now(),
    );
    if (pending) throw new Conflict(pendingTokenProblem(input.name, pending.expires), "name");
    let privateKey: string | undefined;
    let publicKey = input.publicKey;
    if (!publicKey) {
      privateKey = generatePrivateKey();
      publicKey = publicKeyOf(privateKey);
    }
    const address = await hub.freeAddress(spec, false);
    const entry: Record<string, unknown> = { name: input.name, publicKey, address };
    if (input.admin) entry.admin = true;
    if (input.device) entry.kind = "device";
    const next = await hub.change([{ append: "peers", item: entry }]);
    return { spec: next, privateKey, address };
  });
}

export async function removePeer(
  hub: HubContext,
  who: Identity,
  name: string,
): Promise<{ removedForwards: string[]; revokedToken?: boolean }> {
  hub.requireAdmin(who);
  return hub.serial(async () => {
    const { spec } = await hub.store.load();
    if (!spec.peers.some((p) => p.name === name)) {
      // Not a peer yet: revoke its pending join token (its enrollment key leaves the interface now).
      const runtime = await hub.runtime.load();
      if (!runtime.tokens.some((t) => t.name === name && !t.usedAt))
        throw new NotFound(`no peer or pending join token named "${name}"`, "name");
      await hub.runtime.update((r) => {
        r.tokens = r.tokens.filter((t) => !(t.name === name && !t.usedAt));
      });
      await hub.applyChange();
      return { removedForwards: [], revokedToken: true };
    }
    const forwards = spec.forwards.filter((f) => f.peer === name).map((f) => f.name);
    await hub.change([
      { remove: "forwards", where: (f) => f.peer === name },
      { remove: "peers", where: (p) => p.name === name },
    ]);
    return { removedForwards: forwards };
  });
}

/**
 * Who is online (without the forwards' counters). `seen`: the interface's peers as the caller just read
 * them (the watch's reconcile, the moment before), instead of reading them again.
 */
export async function onlinePeers(hub: HubContext, seen?: WgDumpPeer[]) {
  const { spec } = await hub.live();
  const now = hub.now();
  const host = seen
    ? { ...hub.ctx.host, stats: { ...hub.ctx.host.stats, wgPeers: async () => seen } }
    : hub.ctx.host;
  return (await peerStatus(host, spec, Math.floor(now / 1000), hub.rx, now)).peers;
}
