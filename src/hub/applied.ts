// What each agent peer applied of the spec, as its agent reports it (POST /v1/applied), and that judged
// against the spec the hub serves it now. The hub probes a target from its own tunnel address, but
// clients reach an agent peer from the SNAT pool, through allowed IPs and routes (transparent mode: a
// mark route) that only the peer's own apply puts there: a probe that answers says nothing of those.
// So a forward reads working only when its peer applied the spec the hub serves it now. Kept in the
// daemon's memory: after a restart each agent reports again on its next tick (its whoami answer says
// the hub has nothing on record). Pure but for the records it keeps.
import { agoText } from "../protocol/age-text.ts";
import type { AppliedReport } from "../protocol/requests.ts";
import type { PeerApplied } from "../protocol/responses.ts";
import type { ForwardStatus, PeerStatus } from "../protocol/status.ts";
import type { SpecParts } from "./spec-view.ts";

/** An agent that asks this long (ms) without reporting is older than the hub's reports. */
export const UNREPORTED_AFTER_MS = 10_000;

/**
 * A peer's last report as the hub keeps it: the latest attempt and the latest success; `ran`, the
 * parts of that success's spec when the hub knows them (it served that spec when the report came),
 * else null: a forward of a peer behind is then judged unknown, whatever changed.
 */
interface Kept {
  attempt: { specHash: string; at: string; error: string | null };
  lastApplied: { specHash: string; at: string } | null;
  ran?: SpecParts | null;
}

/** What the hub serves a peer now: the hash of its spec and the parts its apply depends on. */
export interface Served {
  hash: string;
  parts: SpecParts;
}

/** When a peer's agent was first and last heard since the hub started (its whoami polls), ms. */
interface Heard {
  firstMs: number;
  lastMs: number;
}

/**
 * The reports and polls by the peer's public key, not its name: a peer removed and added again under
 * its name with a new key (another machine, or a reinstall) has reported nothing yet.
 */
export class AppliedLog {
  private readonly kept = new Map<string, Kept>();
  private readonly heard = new Map<string, Heard>();

  /** `startedMs`: when this hub started taking reports (its clock, ms). */
  constructor(readonly startedMs: number) {}

  /**
   * Keeps the report of the peer whose key is `key`. A report without `lastApplied` (its agent
   * restarted and has applied nothing since) keeps the success the hub knew. `served`: what the hub
   * serves it now; the parts of the success's spec are known when that is the spec served now, or the
   * success known before.
   */
  report(key: string, r: AppliedReport, served: Served): void {
    const before = this.kept.get(key);
    const lastApplied =
      r.error === null ? { specHash: r.specHash, at: r.at } : (r.lastApplied ?? before?.lastApplied ?? null);
    const ran = !lastApplied
      ? null
      : lastApplied.specHash === served.hash
        ? served.parts
        : lastApplied.specHash === before?.lastApplied?.specHash
          ? (before.ran ?? null)
          : null;
    this.kept.set(key, { attempt: { specHash: r.specHash, at: r.at, error: r.error }, lastApplied, ran });
  }

  /** The agent of the peer whose key is `key` asked the hub (whoami) at `nowMs`. */
  heardFrom(key: string, nowMs: number): void {
    const h = this.heard.get(key);
    if (h) h.lastMs = nowMs;
    else this.heard.set(key, { firstMs: nowMs, lastMs: nowMs });
  }

  /** What the hub has on record of the last apply of the peer whose key is `key` (whoami's `applied`); null: nothing. */
  echo(key: string): { specHash: string; error: string | null } | null {
    const k = this.kept.get(key);
    return k ? { specHash: k.attempt.specHash, error: k.attempt.error } : null;
  }

  /**
   * Forgets peers whose keys are not in `keys`: called when a spec is applied (a peer removed, by the
   * API or by hand, or given a new key under its name).
   */
  keepOnly(keys: Set<string>): void {
    for (const m of [this.kept, this.heard]) for (const k of m.keys()) if (!keys.has(k)) m.delete(k);
  }

  /** Peer `name`'s (its key: `key`) side judged against what the hub serves it now. */
  judge(name: string, key: string, served: Served, nowMs: number): PeerApplied {
    return judgeApplied(
      name,
      served.hash,
      this.kept.get(key) ?? null,
      this.heard.get(key) ?? null,
      { nowMs, startedMs: this.startedMs },
      served.parts,
    );
  }
}

const secondsSince = (nowMs: number, ms: number) => Math.max(0, Math.floor((nowMs - ms) / 1000));
const short = (hash: string) => hash.slice(0, 8);
/** An apply's error in a status line: its lines joined ("…File exists; the host was put back …"). */
export const oneLine = (text: string) => text.trim().replace(/\s*\n\s*/g, "; ");

/** Where to look on the peer, said after every state that is not "current". */
const lookOn = (name: string) =>
  `on ${name}: porthole doctor, and the agent's log (journalctl -u porthole-peer)`;

/**
 * The forwards whose part differs between the spec a peer runs (`ran`) and the one it is served: the
 * others are set up on the peer as that spec wants. null: not known which (the hub does not know what
 * it runs, or its own settings differ): every forward of it.
 */
function forwardsChanged(ran: SpecParts | null | undefined, served: SpecParts | undefined): string[] | null {
  if (!ran || !served || ran.base !== served.base) return null;
  return [...served.forwards].flatMap(([name, part]) => (ran.forwards.get(name) === part ? [] : [name]));
}

/**
 * One peer's side, in state and words. `kept`: its last report (null: none since the hub started);
 * `heard`: its agent's polls (null: none since the hub started); `served`: the parts of the spec the
 * hub serves it (absent: each of its forwards is judged with the peer).
 */
export function judgeApplied(
  name: string,
  specHash: string,
  kept: Kept | null,
  heard: Heard | null,
  clock: { nowMs: number; startedMs: number },
  served?: SpecParts,
): PeerApplied {
  const { nowMs } = clock;
  const seenAgo = heard ? secondsSince(nowMs, heard.lastMs) : null;
  const lastError = kept?.attempt.error ? { ...kept.attempt, error: kept.attempt.error } : null;
  const base = {
    specHash,
    lastApplied: kept?.lastApplied ?? null,
    lastError,
    agentSeenSecondsAgo: seenAgo,
    forwardsChanged: null,
  };
  const applied = kept?.lastApplied
    ? `it applied ${short(kept.lastApplied.specHash)} at ${kept.lastApplied.at}`
    : "no apply of it succeeded since its agent started";
  if (!kept) {
    if (heard && nowMs - heard.firstMs >= UNREPORTED_AFTER_MS)
      return {
        ...base,
        state: "unreported",
        note: `${name}'s agent does not report what it applied (older than this hub?): whether it applied this spec is not known; upgrade porthole on ${name}`,
      };
    return {
      ...base,
      state: "silent",
      note: heard
        ? `${name}'s agent has not reported what it applied yet (it does on its next tick)`
        : `${name}'s agent has not been heard since the hub started ${agoText(secondsSince(nowMs, clock.startedMs))}: what it applied is not known; is porthole's agent running there? ${lookOn(name)}`,
    };
  }
  if (kept.attempt.specHash === specHash && kept.attempt.error === null)
    return {
      ...base,
      forwardsChanged: [],
      state: "current",
      note: `${name} applied this spec (${short(specHash)}) at ${kept.attempt.at}`,
    };
  // Failed or behind: it runs its last success (a failed apply puts the host back).
  const changed = forwardsChanged(kept.lastApplied ? kept.ran : null, served);
  if (kept.attempt.specHash === specHash)
    return {
      ...base,
      forwardsChanged: changed,
      state: "failed",
      note: `${name}'s apply of this spec failed at ${kept.attempt.at}: ${oneLine(kept.attempt.error ?? "")} (${kept.lastApplied ? `it runs what it applied before: ${short(kept.lastApplied.specHash)} at ${kept.lastApplied.at}` : applied}); ${lookOn(name)}`,
    };
  const failed = kept.attempt.error
    ? `; its last apply (of ${short(kept.attempt.specHash)}) failed: ${oneLine(kept.attempt.error)}`
    : "";
  // When it was heard, not what it will do: an agent heard 1 s ago may have stopped since.
  const agent =
    seenAgo === null
      ? "its agent has not been heard since the hub started"
      : `its agent was last heard ${agoText(seenAgo)}`;
  return {
    ...base,
    forwardsChanged: changed,
    state: "behind",
    note: `${name} has not applied this spec (${short(specHash)}): ${applied}${failed}; ${agent}; ${lookOn(name)}`,
  };
}

/**
 * The peers with their `applied` (`judged`: by peer name, for agent peers; a device gets null, judged
 * as before) and the forwards of a peer not in step with `peerSpec` set and `working` never true: the
 * probe came from the hub's tunnel address, which tells nothing of the peer's side for clients. A
 * forward whose part is unchanged since the peer's last apply (`forwardsChanged` leaves it out) keeps
 * its judgement.
 */
export function withApplied<S extends { peers: PeerStatus[]; forwards: ForwardStatus[] }>(
  s: S,
  judged: Map<string, PeerApplied>,
): S {
  const peers = s.peers.map((p) => ({ ...p, applied: judged.get(p.name) ?? null }));
  const changed = new Map<string, Set<string> | null>();
  for (const [name, a] of judged) changed.set(name, a.forwardsChanged ? new Set(a.forwardsChanged) : null);
  const forwards = s.forwards.map((f) => {
    const a = judged.get(f.peer);
    if (!a || !forwardChanged(a, f.name, changed.get(f.peer))) return f;
    return { ...f, peerSpec: a.note, working: f.working === true ? null : f.working };
  });
  return { ...s, peers, forwards };
}

/**
 * Whether forward `name` of a peer judged `a` is not known to be set up on the peer as the spec served
 * wants (`changed`: a.forwardsChanged as a set).
 */
export function forwardChanged(a: PeerApplied, name: string, changed?: Set<string> | null): boolean {
  if (a.state === "current") return false;
  const set = changed === undefined ? (a.forwardsChanged ? new Set(a.forwardsChanged) : null) : changed;
  return !set || set.has(name);
}
