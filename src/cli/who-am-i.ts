// Which host of a spec this machine is: the one whose public key its private key gives.
import { readText } from "../host/files.ts";
import { keyProblem, publicKeyOf } from "../net/wgkey.ts";
import type { Spec } from "../spec/types.ts";

/** The host (the hub's name or a peer's) whose public key matches the key in `keyFile`; undefined if none. */
export async function whoAmI(spec: Spec, keyFile: string): Promise<string | undefined> {
  const key = (await readText(keyFile))?.trim();
  if (!key || keyProblem(key)) return undefined;
  const pub = publicKeyOf(key);
  return spec.hub.publicKey === pub ? spec.hub.name : spec.peers.find((p) => p.publicKey === pub)?.name;
}
