// Forwards: what a caller may expose or remove (a peer that is not an admin: its own, within
// hub.limits; a port a service on the hub listens on only when an admin forces it), and who sees which.

import type { Listener } from "../host/types.ts";
import { canonicalPort, formatRange, parsePortRange, portValue, rangeLength } from "../net/ports.ts";
import { describeShadow, FORCE_HOW, findShadows } from "../reconcile/shadowed.ts";
import { forwardName } from "../spec/defaults.ts";
import { count } from "../spec/diagnostics.ts";
import { hubReservedPorts } from "../spec/reserved-ports.ts";
import type { Forward, Proto, Spec } from "../spec/types.ts";
import { type HubContext, type Identity, isAdmin } from "./context.ts";
import { Conflict, Forbidden, Invalid, NotFound } from "./errors.ts";

export interface ForwardInput {
  name?: string;
  proto?: string;
  port: number | string;
  targetPort?: number | string;
  peer?: string;
  mode?: string;
  allowFrom?: string[];
  /** Take the public port even though a service on the hub listens on it (admins only). */
  shadowHubService?: boolean;
}

export async function addForward(hub: HubContext, who: Identity, given: ForwardInput) {
  if (who.kind !== "root" && who.kind !== "peer") throw new Forbidden("only peers may expose ports");
  // " 80" and "080" are 80: whitespace or leading zeros must not end up in the port or the generated
  // name ("rpi-tcp-080"), nor make `expose 80` again miss the forward it made.
  const trim = <T>(v: T) => (typeof v === "string" ? (v.trim() as T) : v);
  const input = {
    ...given,
    port: canonicalPort(given.port),
    targetPort: given.targetPort === undefined ? undefined : canonicalPort(given.targetPort),
    proto: trim(given.proto),
  };
  const peer = input.peer ?? (who.kind === "peer" ? who.name : undefined);
  if (!peer) throw new Invalid("peer: which peer should receive the traffic?", "peer");
  if (who.kind === "peer" && !who.admin && peer !== who.name) {
    throw new Forbidden(`peer: ${who.name} is not an admin, so it may only expose its own ports`, "peer");
  }
  return hub.serial(async () => {
    const proto = input.proto ?? "tcp";
    const name = input.name ?? forwardName(peer, proto, input.port);
    const current = (await hub.store.load()).spec;
    // A peer added with `peer add` is in the spec only once it joined: say that, not "not a peer".
    if (!current.peers.some((p) => p.name === peer)) {
      const waiting = (await hub.runtime.load()).tokens.find(
        (t) => t.name === peer && !t.usedAt && t.expires > hub.now(),
      );
      if (waiting)
        throw new Invalid(
          `peer: "${peer}" has not joined yet (its join token is pending until ${new Date(waiting.expires).toISOString()}): add its forwards once \`porthole join\` ran there (it shows in \`porthole peer ls\` with an address)`,
          "peer",
        );
    }
    if (!isAdmin(who)) checkQuota(current, peer, proto, input.port);
    const entry: Record<string, unknown> = { name, proto, port: portValue(input.port), peer };
    if (input.targetPort !== undefined) entry.targetPort = portValue(input.targetPort);
    if (input.mode) entry.mode = input.mode;
    if (input.allowFrom?.length) entry.allowFrom = input.allowFrom;
    const listeners = await refuseShadowing(
      hub,
      who,
      { name, proto, port: input.port },
      input.shadowHubService === true,
    );
    if (input.shadowHubService) entry.shadowHubService = true;
    const spec = await hub.change([{ append: "forwards", item: entry }], who, listeners);
    return spec.forwards.find((f) => f.name === name);
  });
}

/**
 * A public port that a service on the hub listens on is refused before the spec is touched: always for
 * peers that are not admins, for admins unless they force it (shadowHubService). Returns the sockets
 * it saw, for apply to reuse (undefined when it did not look).
 */
async function refuseShadowing(
  hub: HubContext,
  who: Identity,
  f: { name: string; proto: string; port: number | string },
  force: boolean,
): Promise<Listener[] | undefined> {
  if (force && !isAdmin(who)) {
    throw new Forbidden(
      "shadowHubService: only an admin may forward a port that a service on the hub uses",
      "shadowHubService",
    );
  }
  const port = parsePortRange(f.port);
  if (force || !port.ok) return undefined; // a bad port is reported by the spec's own check
  const protos = (f.proto === "tcp+udp" ? ["tcp", "udp"] : [f.proto]) as Proto[];
  const { spec } = await hub.live();
  // The hub's own ports (WireGuard, SSH, hub.reservedPorts) are the spec check's to refuse, in its words.
  const own = hubReservedPorts(spec.hub).some(
    (r) =>
      r.protos.some((p) => protos.includes(p)) &&
      r.range.from <= port.range.to &&
      port.range.from <= r.range.to,
  );
  if (own) return undefined;
  const seen = await hub.ctx.host.sockets.listening(false);
  const admin = isAdmin(who);
  const [s] = await findShadows(
    hub.ctx.host,
    spec.hub,
    [{ name: f.name, protos, port: port.range }],
    seen,
    admin,
  );
  if (!s) return seen;
  const fix = admin
    ? `pick another public port, or, if the forward should take the port over, force it: ${FORCE_HOW}`
    : "pick another public port (only an admin can force a forward over a service of the hub)";
  throw new Conflict(
    `port: ${describeShadow(s, !admin)}; a forward would cut that service off from the internet. ${fix}`,
    "port",
  );
}

/**
 * For an admin who named a forward by its public port (`forward rm 80`; `unexpose` takes either): the
 * forwards on that port, by name. A peer that is not an admin is told nothing of other peers' forwards.
 */
function portHint(spec: Spec, name: string): string {
  const asPort = parsePortRange(name);
  if (!asPort.ok) return "; see `porthole forward ls`";
  const { from, to } = asPort.range;
  const on = spec.forwards.filter((f) => f.port.from <= to && from <= f.port.to);
  if (!on.length) return `; no forward takes public port ${name} either (see \`porthole forward ls\`)`;
  const said = on.map((f) => `${f.name} (${f.protos.join("+")}/${formatRange(f.port)} → ${f.peer})`);
  return `; ${name} reads as a public port, and rm takes a forward's name: ${said.join(", ")}, e.g. \`porthole forward rm ${on[0]?.name}\``;
}

export async function removeForward(hub: HubContext, who: Identity, name: string) {
  if (who.kind !== "root" && who.kind !== "peer") throw new Forbidden("only peers may remove forwards");
  return hub.serial(async () => {
    const { spec } = await hub.store.load();
    const f = spec.forwards.find((x) => x.name === name);
    // "Not yours" and "no such" are one answer: a peer learns nothing of the others' forwards.
    if (!f || (who.kind === "peer" && !who.admin && f.peer !== who.name))
      throw new NotFound(`no forward named "${name}"${isAdmin(who) ? portHint(spec, name) : ""}`, "name");
    await hub.change([{ remove: "forwards", where: (x) => x.name === name }], who);
    return f;
  });
}

export async function listForwards(hub: HubContext, who: Identity) {
  hub.requirePeer(who);
  const { spec } = await hub.live();
  if (who.kind === "peer" && !who.admin) return spec.forwards.filter((f) => f.peer === who.name);
  return spec.forwards;
}

const countPorts = (f: Pick<Forward, "protos" | "port">) => f.protos.length * rangeLength(f.port);

/**
 * The hub's limits (hub.limits) on what a peer that is not an admin may ask for: forwards per peer,
 * public ports per peer (per protocol), and the span of one range. An invalid port is left to the spec's
 * own check. Throws Forbidden naming the limit.
 */
function checkQuota(spec: Spec, peer: string, proto: string, port: number | string): void {
  const { limits } = spec.hub;
  const mine = spec.forwards.filter((f) => f.peer === peer);
  if (mine.length + 1 > limits.forwardsPerPeer) {
    throw new Forbidden(
      `${peer} has ${count(mine.length, "forward")}, as many as hub.limits.forwardsPerPeer (${limits.forwardsPerPeer}) allows a peer that is not an admin; remove one (porthole unexpose) or ask an admin`,
      "name",
    );
  }
  const parsed = parsePortRange(port);
  if (!parsed.ok) return;
  const range = parsed.range;
  if (rangeLength(range) > limits.maxRangeWithoutAdmin) {
    throw new Forbidden(
      `port: ${formatRange(range)} spans ${rangeLength(range)} ports; a peer that is not an admin may forward ranges of up to ${limits.maxRangeWithoutAdmin} (hub.limits.maxRangeWithoutAdmin); ask an admin for more`,
      "port",
    );
  }
  const protos = proto === "tcp+udp" ? ["tcp", "udp"] : [proto];
  const used = mine.reduce((n, f) => n + countPorts(f), 0);
  const asked = protos.length * rangeLength(range);
  if (used + asked > limits.portsPerPeer) {
    throw new Forbidden(
      `port: ${proto}/${formatRange(range)} would bring ${peer} to ${used + asked} public ports (counted per protocol); hub.limits.portsPerPeer allows a peer that is not an admin ${limits.portsPerPeer}; remove a forward or ask an admin`,
      "port",
    );
  }
}
