// Element-only changes to table inet porthole: when two scripts (as compiled, see compile/nftables.ts)
// differ only in the elements of their sets and maps, the kernel can be brought from one to the other
// by deleting and adding elements, a transaction far smaller than reloading the whole table (10,000
// forwards: ~20 ms, mostly nft start-up, instead of ~250 ms). Pure: no I/O.

/** The sets and maps of a script, and the script without their element lines (its "skeleton"). */
export interface NftCollections {
  skeleton: string;
  collections: Map<string, { kind: "set" | "map"; elements: string[] }>;
}

const OPEN = /^\t(set|map) (\S+) \{$/;
/** The lines of an element block, each "\t\t\tELEMENT," (no braces, commas or tabs inside an element). */
const BODY = /^\t\t\t[^{},\t\n]+,(?:\n\t\t\t[^{},\t\n]+,)*$/;
const BLOCK_END = "\n\t\t}\n";

/** Splits a compiled script into skeleton and elements; null if it is not in the layout porthole emits. */
export function parseNftCollections(script: string): NftCollections | null {
  const skeleton: string[] = [];
  const collections: NftCollections["collections"] = new Map();
  let current: { kind: "set" | "map"; elements: string[] } | null = null;
  // Line by line, as script.split("\n") would, except that an element block is taken in one piece.
  for (let pos = 0; pos <= script.length; ) {
    const nl = script.indexOf("\n", pos) < 0 ? script.length : script.indexOf("\n", pos);
    const line = script.slice(pos, nl);
    pos = nl + 1;
    if (line === "\t\telements = {") {
      if (!current || current.elements.length) return null;
      const end = script.indexOf(BLOCK_END, nl);
      if (end < 0) return null;
      const body = script.slice(nl + 1, end);
      if (!BODY.test(body)) return null;
      current.elements = body.slice(3, -1).split(",\n\t\t\t");
      pos = end + BLOCK_END.length;
      continue;
    }
    const open = OPEN.exec(line);
    if (open) {
      const name = open[2] as string;
      if (collections.has(name)) return null;
      current = { kind: open[1] as "set" | "map", elements: [] };
      collections.set(name, current);
    } else if (line === "\t}") {
      current = null;
    }
    skeleton.push(line);
  }
  return { skeleton: skeleton.join("\n"), collections };
}

/** A map element's key ("tcp . 80 : 10.0.0.2 . 80" -> "tcp . 80"); IPv6 colons have no spaces around. */
export const mapKey = (element: string) => element.split(" : ")[0] as string;

export interface NftElementChange {
  name: string;
  kind: "set" | "map";
  /** Elements to delete (for maps: keys only), then elements to add. */
  remove: string[];
  add: string[];
}

/**
 * The last scripts split (a daemon's next apply diffs against the script it just loaded, and the
 * verify pass against the same two again): by exact text, read-only.
 */
const recent: { script: string; parsed: NftCollections | null }[] = [];
function parsedCollections(script: string): NftCollections | null {
  const hit = recent.find((r) => r.script === script);
  if (hit) return hit.parsed;
  const parsed = parseNftCollections(script);
  recent.unshift({ script, parsed });
  recent.length = Math.min(recent.length, 3);
  return parsed;
}

/** The element changes from `prev` to `next`; null unless they differ in set/map elements only. */
export function nftElementChanges(prev: string, next: string): NftElementChange[] | null {
  const a = parsedCollections(prev);
  const b = parsedCollections(next);
  if (!a || !b || a.skeleton !== b.skeleton) return null;
  const changes: NftElementChange[] = [];
  for (const [name, to] of b.collections) {
    const from = a.collections.get(name);
    if (!from || from.kind !== to.kind) return null;
    // Compiled in forward order, the lists mostly agree: set-compare only what lies between their
    // common prefix and suffix (an element occurs once in a list, so the rest is in both).
    const x = from.elements;
    const y = to.elements;
    let head = 0;
    while (head < x.length && head < y.length && x[head] === y[head]) head++;
    let tail = 0;
    while (
      tail < x.length - head &&
      tail < y.length - head &&
      x[x.length - 1 - tail] === y[y.length - 1 - tail]
    )
      tail++;
    if (head === x.length && head === y.length) continue;
    const old = new Set(x.slice(head, x.length - tail));
    const now = new Set(y.slice(head, y.length - tail));
    const gone = [...old].filter((e) => !now.has(e));
    const added = [...now].filter((e) => !old.has(e));
    const remove = to.kind === "map" ? [...new Set(gone.map(mapKey))] : gone;
    if (remove.length || added.length) changes.push({ name, kind: to.kind, remove, add: added });
  }
  return changes;
}

/** The changes as nft commands: every delete before any add (a map element whose value changed is both). */
export function renderNftDelta(changes: NftElementChange[]): string {
  const cmd = (verb: string, name: string, elements: string[]) =>
    `${verb} element inet porthole ${name} { ${elements.join(", ")} }`;
  const lines = [
    ...changes.filter((c) => c.remove.length).map((c) => cmd("delete", c.name, c.remove)),
    ...changes.filter((c) => c.add.length).map((c) => cmd("add", c.name, c.add)),
  ];
  return lines.map((l) => `${l}\n`).join("");
}

/** The nft commands that turn `prev` into `next` (may be empty); null unless only elements differ. */
export function nftDelta(prev: string, next: string): string | null {
  const changes = nftElementChanges(prev, next);
  return changes ? renderNftDelta(changes) : null;
}
