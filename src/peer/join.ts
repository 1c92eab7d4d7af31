// `porthole join TOKEN`: the peer makes its own key (it never leaves this machine), opens the tunnel
// with the token's one-time key, registers its real public key over the hub's API, then switches to
// its own key. Any failure leaves the machine as it was.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { generatePrivateKey, publicKeyOf } from "../net/wgkey.ts";
import type { EnrollReply } from "../protocol/responses.ts";
import { readToken, type TokenPayload } from "../protocol/tokens.ts";
import { apply, type Context } from "../reconcile/reconcile.ts";
import { loadSpec } from "../spec/load.ts";
import { HubRefused, HubUnreachable, peerClient } from "./client.ts";
import { type PeerIdentity, readIdentity, specFile, writeIdentity } from "./local.ts";

/** Why a join stopped; `noAnswer`: the hub did not answer (its daemon down, or not through the tunnel). */
export class JoinError extends Error {
  constructor(
    message: string,
    readonly noAnswer = false,
  ) {
    super(message);
  }
}

export interface JoinOptions {
  ctx: Context;
  configDir: string;
  iface?: string;
  now?: number;
  /** How long to keep trying the API through the enrollment tunnel. */
  waitMs?: number;
  log?: (l: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function joinHub(
  token: string,
  o: JoinOptions,
): Promise<{ name: string; address: string; lines: string[] }> {
  const log = o.log ?? (() => {});
  const h = o.ctx.host;
  let t: TokenPayload;
  try {
    t = readToken(token, Math.floor((o.now ?? Date.now()) / 1000));
  } catch (e) {
    throw new JoinError((e as Error).message);
  }
  if (await readIdentity(o.ctx.host.files, o.ctx.stateDir))
    throw new JoinError(
      `this machine has joined a hub already (${o.ctx.stateDir}/peer.json); run \`porthole down\` first to leave it`,
    );
  const iface = o.iface ?? "wg0";
  if ((await h.wg.observe(iface)).exists)
    throw new JoinError(`an interface named ${iface} exists already; remove it or choose another name`);

  const undo: (() => Promise<unknown>)[] = [];
  try {
    let own = (await h.files.read(o.ctx.keyFile))?.trim();
    if (!own) {
      own = generatePrivateKey();
      await h.files.write(o.ctx.keyFile, `${own}\n`, 0o600);
      undo.push(() => h.files.remove(o.ctx.keyFile));
      log(`made this peer's private key: ${o.ctx.keyFile} (0600, it never leaves this machine)`);
    }
    const enrollKey = join(o.ctx.stateDir, "enroll.key");
    await h.files.write(enrollKey, `${t.x}\n`, 0o600);
    undo.push(() => h.files.remove(enrollKey));
    await h.wg.create(iface);
    undo.push(() => h.wg.destroy(iface));
    await h.wg.setPrivateKey(iface, enrollKey);
    await h.wg.addAddress(iface, `${t.a}/${t.m ?? 24}`);
    await h.wg.setPeer(iface, { publicKey: t.k, allowedIps: [`${t.s}/32`], endpoint: t.h, keepalive: 5 });
    await h.wg.setUp(iface);
    log(`tunnel up with the token's one-time key (${t.a} → hub ${t.s} via ${t.h})`);

    const api = `http://${t.s}:${t.p}`;
    const deadline = Date.now() + (o.waitMs ?? 20_000);
    let reply: EnrollReply | undefined;
    // One request id for every attempt: an enrollment whose answer was lost is answered again, not refused.
    const requestId = randomUUID();
    const hub = peerClient(api, { requestId, recover: false });
    while (!reply) {
      try {
        reply = await hub.enroll({ token, publicKey: publicKeyOf(own) }, 3000);
      } catch (e) {
        if (e instanceof HubRefused) throw new JoinError(`the hub refused the token: ${e.message}`);
        // Refused at the port: the tunnel works and the hub's kernel answered, but no daemon listens.
        if (e instanceof HubUnreachable && /API is not listening/.test(e.message))
          throw new JoinError(e.message, true);
        if (Date.now() > deadline) {
          throw new JoinError(
            `no answer from the hub through the tunnel (${t.h}): the hub daemon may be down (on the hub: \`porthole status\`), the token was used already or revoked (the hub forgets a token's key once used), or udp/${t.h.split(":").pop()} is blocked`,
            true,
          );
        }
        if (!(e instanceof HubUnreachable)) throw e;
        await sleep(500);
      }
    }
    const registered = reply;
    log(`registered as "${registered.name}" with address ${registered.address}`);
    // Registered: from here on the hub knows this key, so a failure keeps it (and says so).
    undo.length = 0;
    await h.wg.destroy(iface);
    await h.files.remove(enrollKey);

    const loaded = loadSpec(registered.spec);
    if (!loaded.ok) throw new JoinError(`the hub sent a spec this porthole cannot read:\n${loaded.report}`);
    await h.files.write(specFile(o.configDir), registered.spec);
    const identity: PeerIdentity = { name: registered.name, api };
    await writeIdentity(o.ctx.host.files, o.ctx.stateDir, identity);
    const r = await apply(
      { ...o.ctx, service: "daemon" },
      { spec: loaded.spec, specText: registered.spec, hostName: registered.name },
    );
    await waitForHub(api, 15_000);
    return { name: registered.name, address: registered.address, lines: r.lines };
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

/** The hub answers over the peer's own key: the switch worked. */
export async function waitForHub(api: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await peerClient(api).whoami(2000);
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new JoinError(
          `joined, but the hub does not answer over this peer's own key yet: ${(e as Error).message}`,
          true,
        );
      await sleep(300);
    }
  }
}
