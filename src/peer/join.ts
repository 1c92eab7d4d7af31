// `porthole join TOKEN`: the peer makes its own key (it never leaves this machine), opens the tunnel
// with the token's one-time key, registers its real public key over the hub's API, then switches to
// its own key. Any failure, and a Ctrl-C before the hub registers it, leaves the machine as it was; a
// join killed outright leaves its enrollment tunnel, which the next join (or `porthole down`) removes.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { generatePrivateKey, publicKeyOf } from "../net/wgkey.ts";
import type { EnrollReply } from "../protocol/responses.ts";
import { readToken, type TokenPayload } from "../protocol/tokens.ts";
import { apply, type Context } from "../reconcile/reconcile.ts";
import { subnetClash } from "../reconcile/subnet-clash.ts";
import { loadSpec } from "../spec/load.ts";
import { HubRefused, HubUnreachable, peerClient } from "./client.ts";
import { type PeerIdentity, readIdentity, specFile, writeIdentity } from "./local.ts";

/** Why a join stopped; `noAnswer`: the hub did not answer (its daemon down, or not through the tunnel). */
export class JoinError extends Error {
  constructor(
    message: string,
    readonly noAnswer = false,
    /** The hub had registered this peer: what the join did so far stays (the hub holds its key). */
    readonly registered = false,
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
  /**
   * The signal that asked the join to stop (SIGINT...), else null: checked between steps until the hub
   * registers this peer, then the join finishes (stopping there would leave the hub holding a key this
   * machine never switched to).
   */
  interrupted?: () => string | null;
}

/** Where join keeps the token's one-time key while the enrollment tunnel is up. */
const enrollKeyFile = (stateDir: string) => join(stateDir, "enroll.key");

/**
 * Removes the enrollment tunnel a join left when it was killed (SIGKILL, a crash, a power cut): `iface`
 * holding the one-time key of `enroll.key`, and that file. Another program's interface of that name is
 * left alone. Returns what it removed, as apply's lines.
 */
export async function removeLeftoverEnrollment(
  h: Context["host"],
  stateDir: string,
  iface = "wg0",
): Promise<string[]> {
  const file = enrollKeyFile(stateDir);
  const key = (await h.files.read(file))?.trim();
  if (!key) return [];
  const lines: string[] = [];
  const state = await h.wg.observe(iface);
  let ours = false;
  try {
    ours = state.exists && state.publicKey === publicKeyOf(key);
  } catch {
    // not a key: only the file is join's
  }
  if (ours) {
    await h.wg.destroy(iface);
    lines.push(`- interface ${iface} (the enrollment tunnel of a join that was interrupted)`);
  }
  await h.files.remove(file);
  lines.push(`- file ${file}`);
  return lines;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function joinHub(
  token: string,
  o: JoinOptions,
): Promise<{
  name: string;
  address: string;
  lines: string[];
  /** The signal that came while the hub was registering this peer (its answer on the way), else null. */
  signalledWhileRegistering: string | null;
}> {
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
  for (const l of await removeLeftoverEnrollment(h, o.ctx.stateDir, iface)) log(l);
  if ((await h.wg.observe(iface)).exists)
    throw new JoinError(`an interface named ${iface} exists already; remove it or choose another name`);

  // The hub's subnet (the token's enrollment address carries its prefix) against this machine's networks.
  const clash = await subnetClash(
    h,
    iface,
    [`${t.a}/${t.m ?? 24}`],
    (f) => `hub.${f === 4 ? "subnet" : "subnet6"} on the hub`,
  );
  if (clash && "refuse" in clash) throw new JoinError(clash.refuse);
  if (clash) log(`warning: ${clash.warn}`);
  const undo: (() => Promise<unknown>)[] = [];
  let registeredAs: string | null = null;
  const stopIfAsked = () => {
    const sig = o.interrupted?.();
    if (sig) throw new JoinError(`stopped by ${sig} before the hub registered this peer`);
  };
  try {
    let own = (await h.files.read(o.ctx.keyFile))?.trim();
    if (!own) {
      own = generatePrivateKey();
      await h.files.write(o.ctx.keyFile, `${own}\n`, 0o600);
      undo.push(() => h.files.remove(o.ctx.keyFile));
      log(`made this peer's private key: ${o.ctx.keyFile} (0600, it never leaves this machine)`);
    }
    stopIfAsked();
    const enrollKey = enrollKeyFile(o.ctx.stateDir);
    await h.files.write(enrollKey, `${t.x}\n`, 0o600);
    undo.push(() => h.files.remove(enrollKey));
    await h.wg.create(iface);
    undo.push(() => h.wg.destroy(iface));
    await h.wg.setPrivateKey(iface, enrollKey);
    await h.wg.addAddress(iface, `${t.a}/${t.m ?? 24}`);
    await h.wg.setPeer(iface, { publicKey: t.k, allowedIps: [`${t.s}/32`], endpoint: t.h, keepalive: 5 });
    await h.wg.setUp(iface);
    stopIfAsked();
    log(`tunnel up with the token's one-time key (${t.a} → hub ${t.s} via ${t.h})`);

    const api = `http://${t.s}:${t.p}`;
    const deadline = Date.now() + (o.waitMs ?? 20_000);
    let reply: EnrollReply | undefined;
    // One request id for every attempt: an enrollment whose answer was lost is answered again, not refused.
    const requestId = randomUUID();
    const hub = peerClient(api, { requestId, recover: false });
    while (!reply) {
      stopIfAsked();
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
    registeredAs = registered.name;
    // A stop asked for now came during the request: the hub registered this peer all the same.
    const signalledWhileRegistering = o.interrupted?.() ?? null;
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
    return { name: registered.name, address: registered.address, lines: r.lines, signalledWhileRegistering };
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => {});
    // Past registration nothing is undone: say so, whatever failed.
    if (registeredAs)
      throw new JoinError(
        `${(e as Error).message}\nthe hub registered this peer as "${registeredAs}", so what the join did so far stays: \`porthole doctor\` says what is missing; \`porthole down\` leaves (then, on the hub, \`porthole peer rm ${registeredAs}\` and a new token)`,
        e instanceof JoinError && e.noAnswer,
        true,
      );
    throw e;
  }
}

/**
 * The hub answers over the peer's own key: the switch worked. Asked with GET /v1/spec (which the hub
 * answers only a known peer), not the agent's whoami: the hub takes a whoami for the agent polling, and
 * with no agent started yet (no systemd) its status then called this peer's agent one "that does not
 * report what it applied (older than this hub?)".
 */
export async function waitForHub(api: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await peerClient(api).spec();
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
