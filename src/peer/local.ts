// What a joined peer keeps: its name and the hub's API address (peer.json), and a copy of the spec.
import { join } from "node:path";
import type { Host } from "../host/types.ts";
import type { Spec } from "../spec/types.ts";

export interface PeerIdentity {
  name: string;
  api: string;
}

export const peerFile = (stateDir: string) => join(stateDir, "peer.json");
export const specFile = (configDir: string) => join(configDir, "porthole.yaml");

/** This machine's identity as a peer (`files`: the host's); null before `porthole join`. */
export async function readIdentity(files: Host["files"], stateDir: string): Promise<PeerIdentity | null> {
  const text = await files.read(peerFile(stateDir));
  return text ? (JSON.parse(text) as PeerIdentity) : null;
}

export async function writeIdentity(files: Host["files"], stateDir: string, id: PeerIdentity): Promise<void> {
  await files.write(peerFile(stateDir), `${JSON.stringify(id, null, 2)}\n`, 0o600);
}

/** The peer's copy of the hub's spec, when it is there and valid. */
export async function readLocalSpec(
  files: Host["files"],
  configDir: string,
): Promise<{ text: string; spec: Spec } | null> {
  const text = await files.read(specFile(configDir));
  if (!text) return null;
  // The parser and validator load only when a spec is read (not for `porthole --version`, `exposed`...).
  const { loadSpec } = await import("../spec/load.ts");
  const r = loadSpec(text, specFile(configDir));
  return r.ok ? { text, spec: r.spec } : null;
}
