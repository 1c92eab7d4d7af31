// `porthole status` on a joined peer: the hub's status of it, through the tunnel. Its own module: a
// peer's `status` loads none of the other peer commands (their options, the agent's log, tables).
import { hostFiles } from "../host/files.ts";
import { HubUnreachable } from "../peer/client.ts";
import { type PeerIdentity, readLocalSpec } from "../peer/local.ts";
import type { HubStatus } from "../protocol/status.ts";
import { UserError } from "./errors.ts";
import { configDir } from "./paths.ts";
import { ask } from "./peer-ask.ts";

/** `porthole status` on a joined peer; `all`: every forward's lines, however many (see renderStatus). */
export async function peerStatus(id: PeerIdentity, json: boolean, all = false): Promise<void> {
  // This machine's copy of the spec is read (parsed, validated: ~0.5 × a bare node's start-up) only
  // when the hub's reply does not name its endpoint, or when the hub does not answer.
  const local = () => readLocalSpec(hostFiles, configDir());
  let s: HubStatus;
  try {
    s = await ask(id).status(!json && !all);
  } catch (e) {
    // The hub did not answer: what this machine can see of its tunnel is still said (the status of
    // its forwards is the hub's to give), then the error, exit 3.
    // A copy that cannot be read (EACCES) leaves the hub's error to be said, not its own.
    const copy =
      !json &&
      e instanceof UserError &&
      e.cause instanceof HubUnreachable &&
      (await local().catch(() => null));
    if (copy) {
      const { printLocalPeerStatus } = await import("./static-peer-status.ts");
      const how = `joined to hub ${id.api}, no status from it: what this machine sees`;
      await printLocalPeerStatus(copy.spec, id.name, false, how, true);
    }
    throw e;
  }
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return;
  }
  const { renderStatus } = await import("../protocol/status-text.ts");
  // An older hub's reply names no endpoint: the copy's (its reading loads the spec code anyway).
  const copy = s.hub.endpoint ? undefined : (await local())?.spec.hub.endpoint;
  const endpoint = s.hub.endpoint ?? (copy && (await import("../spec/endpoint.ts")).endpointText(copy));
  const hub = endpoint ? `${endpoint} (${s.hub.address})` : id.api;
  console.log(`peer "${id.name}", joined to hub ${hub}\n${renderStatus(s, all)}`);
}
