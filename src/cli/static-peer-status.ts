// `status` on a peer set up with `porthole apply` rather than `join`: its own module, because `status`
// on a hub passes through here first and must not load the peer commands (their hub client brings
// node's crypto, the agent and more: ~15 % of a hub status run's CPU).
import { readText, readTextNow } from "../host/files.ts";
import type { Spec } from "../spec/types.ts";
import { stateDir } from "./paths.ts";

/**
 * `status` on a peer set up with `porthole apply` (no peer.json): found by its key in the same spec
 * apply uses. false when this machine is not such a peer (or the spec cannot be read), and at once
 * when the hub daemon runs here: this is the hub, and loading its spec to look for a peer would cost
 * its status ~0.5 s of CPU at 10,000 forwards.
 */
export async function staticPeerStatus(json: boolean): Promise<boolean> {
  const { runningDaemon } = await import("../host/daemon-pid.ts");
  if (await runningDaemon(stateDir(), "hub")) return false;
  const { loadSpec } = await import("../spec/load.ts");
  const { keyProblem, publicKeyOf } = await import("../net/wgkey.ts");
  const { specPath, keyFile } = await import("./paths.ts");
  let text: string;
  try {
    text = readTextNow(specPath());
  } catch {
    return false;
  }
  const r = loadSpec(text, specPath());
  const key = (await readText(keyFile()))?.trim();
  if (!r.ok || !key || keyProblem(key)) return false;
  const me = r.spec.peers.find((p) => p.publicKey === publicKeyOf(key));
  if (!me) return false;
  // A spec and key alone are what `down` and `uninstall` keep: not "set up with apply" unless applied.
  const { thisSide } = await import("./side.ts");
  await printLocalPeerStatus(r.spec, me.name, json, thisSide() === "none" ? NOT_APPLIED : undefined);
  return true;
}

/** How a peer whose spec and key are here, but nothing of it applied, came to be (status's first line). */
export const NOT_APPLIED =
  "nothing of it applied here, as after `porthole down` or `uninstall`, which keep the spec and key: `porthole apply` brings it back";

/**
 * Prints what this machine sees as peer `name` of `spec` (its interface, the hub's handshake, its
 * forwards from the spec), as JSON or text; `how`: how it came to be a peer, in the text's first line;
 * `apiUnanswered`: the hub's API was asked and did not answer (see renderLocalPeerStatus).
 */
export async function printLocalPeerStatus(
  spec: Spec,
  name: string,
  json: boolean,
  how?: string,
  apiUnanswered = false,
): Promise<void> {
  const [{ localPeerStatus }, { realHost }, { renderLocalPeerStatus }] = await Promise.all([
    import("../hub/status.ts"),
    import("../host/real-host.ts"),
    import("../protocol/status-text.ts"),
  ]);
  const s = await localPeerStatus(realHost, spec, name, Math.floor(Date.now() / 1000));
  console.log(json ? JSON.stringify(s, null, 2) : renderLocalPeerStatus(s, how, apiUnanswered));
}
