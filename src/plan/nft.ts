// Table inet porthole as data: its sets and maps (collections of elements) beside the rest of the
// table (its skeleton: the chains). Compile fills it, compile/nft-text.ts renders it to nft's text at
// the edge, and reconcile compares two of them element by element (reconcile/nft-delta.ts).

/** A set: its declaration and its elements in nft's element syntax ("10.8.0.2 . tcp . 8080"). */
export interface NftSet {
  kind: "set";
  name: string;
  /** nft's type expression ("ipv4_addr . inet_proto . inet_service"). */
  type: string;
  /** Declaration lines besides the type ("flags interval", "counter": per-element counters). */
  flags: string[];
  /** Each once. */
  elements: string[];
}

/** A map: its declaration and its entries, key then value ("tcp . 80", "10.8.0.2 . 8080"). */
export interface NftMap {
  kind: "map";
  name: string;
  /** "KEY_TYPE : VALUE_TYPE". */
  type: string;
  flags: string[];
  /** Each key once. */
  elements: [key: string, value: string][];
}

export type NftCollection = NftSet | NftMap;

export interface NftPlan {
  /** The table's sets and maps, declared first, in this order. */
  collections: NftCollection[];
  /**
   * The rest of the table: its chains as nft text ("\tchain gate {\n\t\ttype filter …\n\t}\n…", no
   * trailing newline). A record written before sets travelled as data holds its whole table body here.
   */
  chains: string;
}

/** One collection's element changes: `remove` first (a map's by key), then `add`. */
export type NftElementChange =
  | { kind: "set"; name: string; remove: string[]; add: string[] }
  | { kind: "map"; name: string; remove: string[]; add: [key: string, value: string][] };

/**
 * The rules a table's nft text declares, as the kernel counts them (`nft -j list table`: one rule per
 * line of a chain's body after its `type` line). `text`: an NftPlan's `chains`, or a whole table
 * script; only chain blocks count (a record written before sets travelled as data holds set blocks
 * among its chains). Pure.
 */
export function nftRuleCount(text: string): number {
  let inChain = false;
  let count = 0;
  for (const line of text.split("\n")) {
    if (/^\t(chain|set|map) /.test(line)) inChain = line.startsWith("\tchain ");
    else if (inChain && line.startsWith("\t\t") && !line.startsWith("\t\ttype ")) count++;
  }
  return count;
}
