// This peer's copy of the hub's spec against the one the hub serves now. The agent takes the hub's
// changes (a forward an admin added, another SNAT pool, a transparent forward) and applies this peer's
// part; while it is stopped the copy and the machine fall behind, and every check judged by the copy
// passes while clients fail. So doctor asks the hub (the CLI fetches: doctor stays pure) and judges the
// other checks by the hub's spec when the copy is behind.
import { specHash } from "../protocol/spec-hash.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";

/** How the copy compares: the same; behind (what differs, in words); or not compared, and why. */
export type SpecCopy =
  | { state: "current" }
  | { state: "behind"; changed: string[] }
  | { state: "unknown"; why: string };

/**
 * What the hub answered: its spec view's hash (as `/v1/whoami` gives it) and, when it differs from the
 * copy's, the view's text (`/v1/spec`); or why it could not be asked.
 */
export type HubSpecAnswer = { hash: string; text?: string } | { error: string };

/** JSON of a spec value, bigints (addresses, prefixes) as text. */
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));

/** What differs between the copy and the hub's spec, for this peer: hub settings, its entry, its forwards. */
export function specChanges(copy: Spec, hub: Spec, me: string): string[] {
  const out: string[] = [];
  const keys = [...new Set([...Object.keys(copy.hub), ...Object.keys(hub.hub)])] as (keyof Spec["hub"])[];
  const hubKeys = keys.filter((k) => json(copy.hub[k]) !== json(hub.hub[k]));
  if (hubKeys.length) out.push(`the hub's ${hubKeys.map((k) => `hub.${k}`).join(", ")}`);
  const mine = (s: Spec) => new Map(s.forwards.filter((f) => f.peer === me).map((f) => [f.name, json(f)]));
  const [was, now] = [mine(copy), mine(hub)];
  const added = [...now.keys()].filter((n) => !was.has(n));
  const gone = [...was.keys()].filter((n) => !now.has(n));
  const changed = [...now.keys()].filter((n) => was.has(n) && was.get(n) !== now.get(n));
  if (added.length) out.push(`forwards new on the hub: ${added.join(", ")}`);
  if (gone.length) out.push(`forwards removed on the hub: ${gone.join(", ")}`);
  if (changed.length) out.push(`forwards changed on the hub: ${changed.join(", ")}`);
  const entry = (s: Spec) => json(s.peers.find((p) => p.name === me));
  if (entry(copy) !== entry(hub)) out.push("this peer's own entry");
  return out;
}

/**
 * The scene as the checks should judge it: by the hub's spec when the copy (`localText`) is behind it,
 * with `copy` saying which. A hub spec that does not load, or lacks this peer, leaves the copy's.
 */
export function sceneWithHubSpec(s: PeerScene, localText: string, answer: HubSpecAnswer): PeerScene {
  if ("error" in answer)
    return { ...s, copy: { state: "unknown", why: `the hub's API did not answer (${answer.error})` } };
  if (answer.hash === specHash(localText)) return { ...s, copy: { state: "current" } };
  const r = answer.text === undefined ? null : loadSpec(answer.text, "the hub's spec");
  const me = r?.ok ? r.spec.peers.find((p) => p.name === s.me.name) : undefined;
  if (!r?.ok || !me)
    return {
      ...s,
      copy: {
        state: "unknown",
        why: !r
          ? "the hub sent no spec"
          : !r.ok
            ? "the hub's spec does not load here"
            : "the hub's spec has no such peer",
      },
    };
  const changed = specChanges(s.spec, r.spec, s.me.name);
  // Texts differ but nothing this peer reads does (a comment, the order): still behind, said so.
  return {
    ...s,
    spec: r.spec,
    me,
    copy: { state: "behind", changed: changed.length ? changed : ["its text"] },
  };
}

/** null on a peer that was not joined (no hub to ask). */
export async function checkSpecCopy(s: PeerScene): Promise<Outcome | null> {
  const c = s.copy;
  if (!c) return null;
  if (c.state === "current")
    return { status: "ok", found: "this peer's copy of the hub's spec is the one the hub serves now" };
  if (c.state === "unknown")
    return {
      status: "unknown",
      found: `not compared with the hub's spec: ${c.why}; the checks below judge this peer's copy, which may be behind`,
      fix: "see the hub-api line; once the hub answers, run porthole doctor again",
    };
  const agent = await s.host.services.daemon(s.stateDir, "peer");
  const found = `this peer has not taken the hub's latest spec (it differs in: ${c.changed.join("; ")})`;
  // A running agent takes a change within 2 s (it writes the copy before applying it): a doctor run in
  // between, or an agent that cannot fetch the spec. Its log says which.
  return agent
    ? {
        status: "warn",
        found: `${found}, though its agent runs (pid ${agent.pid}; it takes the hub's changes every 2 s); the checks below judge the hub's spec`,
        fix: "run porthole doctor again; if this stays, the agent's log (journalctl -u porthole-peer) says why it does not take the spec",
      }
    : {
        status: "fail",
        found: `${found}: the agent, which takes the hub's changes and applies this peer's part, is not running; the checks below judge the hub's spec`,
        fix: "systemctl start porthole-peer   (or run `porthole peer run` under your own supervisor): it applies the hub's spec within 2 s",
      };
}
