// Meaning checks and normalization: from shape-checked input to a Spec, or every problem found. The rules
// live by section, one named function each: hub-rules.ts, peer-rules.ts, forward-rules.ts (with
// reserved-ports.ts), over the single-value checks of value-rules.ts.
import { type Diagnostic, Problems } from "./diagnostics.ts";
import { checkForwards } from "./forward-rules.ts";
import { checkHub } from "./hub-rules.ts";
import { checkPeers } from "./peer-rules.ts";
import { ForwardShape, PeerShape, RootShape } from "./schema.ts";
import { checkShape, STAND_IN_KEY } from "./shape.ts";
import type { Spec } from "./types.ts";

export type ValidateResult = { ok: true; spec: Spec } | { ok: false; problems: Diagnostic[] };

/**
 * The spec from a parsed YAML document: every problem of shape and meaning in one list (each naming the
 * field, the value and what is accepted), or the spec with its defaults filled in.
 */
export function validate(input: unknown): ValidateResult {
  if (input === null || input === undefined) {
    const message = "the file is empty; a spec needs at least a hub section with endpoint and publicKey";
    return { ok: false, problems: [{ path: [], message }] };
  }
  const p = new Problems();
  const root = checkShape(RootShape, input, []);
  if (!root.value) return { ok: false, problems: root.problems };
  p.push(...root.problems);

  const hub = checkHub(root.value.hub, p);
  const peers = (root.value.peers ?? []).map((raw, i) =>
    checkShape(PeerShape, raw, ["peers", i], { publicKey: STAND_IN_KEY }),
  );
  const forwards = (root.value.forwards ?? []).map((raw, i) =>
    checkShape(ForwardShape, raw, ["forwards", i]),
  );
  for (const r of [...peers, ...forwards]) p.push(...r.problems);

  const peerList = hub
    ? checkPeers(
        hub,
        peers.map((r) => r.value),
        p,
      )
    : [];
  const forwardList = hub
    ? checkForwards(
        hub,
        peerList,
        forwards.map((r) => r.value),
        p,
      )
    : [];
  if (p.list.length || !hub) return { ok: false, problems: p.list };
  return { ok: true, spec: { hub, peers: peerList, forwards: forwardList } };
}
