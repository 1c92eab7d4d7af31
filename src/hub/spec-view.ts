// What a peer that is not an admin gets of the hub's spec: the hub section (it compiles its own side
// against it: endpoint, key, subnet, interface, MTU, firewall backend), its own entry, and its own
// forwards (transparent ones need its policy routing). No other peer's key, address or forwards, and
// none of the file's comments. Pure.
import { stringify } from "yaml";
import { formatAddr } from "../net/ip.ts";
import { parseFast, parseYaml } from "../spec/parse.ts";
import type { Spec } from "../spec/types.ts";

type Item = Record<string, unknown>;
const isRecord = (v: unknown): v is Item => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): Item[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** A valid spec's text as data, once per text for all of its views (parsing is the cost at many peers). */
export function specData(text: string): Item {
  const data = parseFast(text)?.data ?? parseYaml(text).data;
  if (!isRecord(data)) throw new Error("the hub's spec is not a mapping");
  return data;
}

/**
 * The spec text peer `name` sees: the spec (`data`: its text as `specData` reads it; `spec`: the same,
 * validated) with only that peer and its forwards. Its addresses are written out, since an allocated
 * address depends on the other peers (see allocate.ts). Reads back (loadSpec) as a valid spec that
 * compiles to the same plan for that peer.
 */
export function peerSpecView(data: Item, spec: Spec, name: string): string {
  const view = peerView(data, spec, name);
  view.forwards = list(data.forwards).filter((f) => f.peer === name);
  return `# The part of hub ${spec.hub.name}'s spec that peer ${name} needs (its own entry and forwards).\n${stringify(view, { lineWidth: 0 })}`;
}

/**
 * What peer `name`'s apply of a spec depends on, in parts: `base`, its view without the forwards (the
 * hub section, its own entry: its tunnel-level settings), and each of its forwards by name, as JSON
 * text. Two specs whose base is the same and whose forward F is the same set up F alike on the peer
 * (the peer compiles from its view alone; a forward's rules are its own).
 */
export interface SpecParts {
  base: string;
  forwards: Map<string, string>;
}

/** Peer `name`'s SpecParts of the spec (`data` and `spec` as for peerSpecView). */
export function peerSpecParts(data: Item, spec: Spec, name: string): SpecParts {
  const raw = Array.isArray(data.forwards) ? data.forwards : [];
  const forwards = new Map<string, string>();
  // spec.forwards are data.forwards validated, in order: the name may be one the hub made up.
  spec.forwards.forEach((f, i) => {
    if (f.peer === name) forwards.set(f.name, JSON.stringify(raw[i] ?? null));
  });
  return { base: JSON.stringify(peerView(data, spec, name)), forwards };
}

/** Peer `name`'s view without its forwards. */
function peerView(data: Item, spec: Spec, name: string): Item {
  const peer = spec.peers.find((p) => p.name === name);
  const entry = list(data.peers).find((p) => p.name === name);
  const view: Item = { ...(data.version === undefined ? {} : { version: data.version }), hub: data.hub };
  if (peer && entry) {
    view.peers = [
      {
        ...entry,
        address: formatAddr(peer.address),
        ...(peer.address6 ? { address6: formatAddr(peer.address6) } : {}),
      },
    ];
  } else view.peers = [];
  return view;
}
