// What a joined peer keeps: its name and the hub's API address (peer.json), and a copy of the spec.
import { join } from "node:path";
import { readText, writeAtomic } from "../host/files.ts";
import type { Spec } from "../spec/types.ts";

export interface PeerIdentity {
  name: string;
  api: string;
}

export const peerFile = (stateDir: string) => join(stateDir, "peer.json");
export const specFile = (configDir: string) => join(configDir, "porthole.yaml");

export async function readIdentity(stateDir: string): Promise<PeerIdentity | null> {
  const text = await readText(peerFile(stateDir));
  return text ? (JSON.parse(text) as PeerIdentity) : null;
}

export async function writeIdentity(stateDir: string, id: PeerIdentity): Promise<void> {
  await writeAtomic(peerFile(stateDir), `${JSON.stringify(id, null, 2)}\n`, 0o600);
}

export async function readLocalSpec(configDir: string): Promise<{ text: string; spec: Spec } | null> {
  const text = await readText(specFile(configDir));
  if (!text) return null;
  // The parser and validator load only when a spec is read (not for `porthole --version`, `exposed`...).
  const { loadSpec } = await import("../spec/load.ts");
  const r = loadSpec(text, specFile(configDir));
  return r.ok ? { text, spec: r.spec } : null;
}
