// YAML text -> plain data. Two parsers, one meaning:
//
// - parseFast (js-yaml, ~15x faster) gives the data only. It is the happy path: loadSpec uses its data
//   when the spec is valid, and otherwise starts again with parseYaml.
// - parseYaml (`yaml`, with source positions) gives syntax errors and the line:column of every node, so
//   diagnostics can say where. It is the reference: the fast path must never accept a text that it
//   refuses or reads differently.
//
// To keep that promise, parseFast resolves plain scalars with exactly the `yaml` package's YAML 1.2 core
// schema rules, and gives up (returns undefined, so the caller takes the slow path) wherever the two
// libraries differ or a spec has no use for the feature: every js-yaml error (several documents,
// duplicate keys, bad indentation, ...), tags, anchors and aliases, %YAML directives, nulls, flow
// mappings, collections or nulls as keys, scalars over several lines, tabs, and a few odd characters
// (see oddText). test/unit/yaml-parity.test.ts and the property test pin this.
import { type LoadOptions, load, Schema, type State, Type, YAMLException } from "js-yaml";
import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";
import type { Diagnostic, Path } from "./diagnostics.ts";

export interface ParsedYaml {
  data: unknown;
  locate: (path: Path) => { line: number; column: number } | undefined;
  syntax: Diagnostic[];
}

// --- the fast path ------------------------------------------------------------------------------------

const NOT_RESOLVED = Symbol("string");

/**
 * A plain (unquoted) scalar's value under the `yaml` package's core schema (yaml/dist/schema/core: null,
 * bool, intOct, int, intHex, floatNaN, floatExp, float, tried in that order), or NOT_RESOLVED for a
 * string.
 */
export function plainScalar(s: string): unknown {
  switch (s[0]) {
    case undefined:
    case "~":
    case "n":
    case "N":
      return /^(?:~|[Nn]ull|NULL)?$/.test(s) ? null : NOT_RESOLVED;
    case "t":
    case "T":
      return /^(?:[Tt]rue|TRUE)$/.test(s) ? true : NOT_RESOLVED;
    case "f":
    case "F":
      return /^(?:[Ff]alse|FALSE)$/.test(s) ? false : NOT_RESOLVED;
    case "0":
    case "1":
    case "2":
    case "3":
    case "4":
    case "5":
    case "6":
    case "7":
    case "8":
    case "9":
    case "+":
    case "-":
    case ".":
      if (/^0o[0-7]+$/.test(s)) return Number.parseInt(s.slice(2), 8);
      if (/^[-+]?[0-9]+$/.test(s)) return Number.parseInt(s, 10);
      if (/^0x[0-9a-fA-F]+$/.test(s)) return Number.parseInt(s.slice(2), 16);
      if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s))
        return /nan$/i.test(s)
          ? Number.NaN
          : s[0] === "-"
            ? Number.NEGATIVE_INFINITY
            : Number.POSITIVE_INFINITY;
      if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return Number.parseFloat(s);
      if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return Number.parseFloat(s);
      return NOT_RESOLVED;
    default:
      return NOT_RESOLVED; // names, addresses, keys: most scalars in a spec
  }
}

// One implicit type for every plain scalar, under a private tag: an explicit tag in the text (`!!int`,
// `!!str`, `!foo`) is unknown to this schema, so js-yaml throws and the slow path takes over.
const PLAIN_TAG = "tag:porthole.invalid,2025:plain";
let resolved: unknown;
const plain = new Type(PLAIN_TAG, {
  kind: "scalar",
  resolve(data: unknown, ...explicit: unknown[]) {
    // js-yaml passes a second argument (the tag) only for an explicit tag: refuse it.
    if (explicit.length || typeof data !== "string") return false;
    resolved = plainScalar(data);
    return resolved !== NOT_RESOLVED;
  },
  construct: () => resolved,
});
const SCHEMA = new Schema({ implicit: [plain] });

class GiveUp extends Error {}

interface ParserState extends State {
  tag: string | null;
  anchor: string | null;
}

// The line each node being read opened on (before the white space ahead of it), innermost last.
const opened: number[] = [];

/** Throws GiveUp at the first node where js-yaml and `yaml` could read the text differently. */
function guard(event: "open" | "close", state: State): void {
  const s = state as ParserState;
  if (event === "open") {
    opened.push(s.line);
    return;
  }
  const line = opened.pop();
  if (s.anchor !== null) throw new GiveUp("anchor"); // no anchors, hence no aliases either
  if (s.tag !== null && s.tag !== "?" && s.tag !== PLAIN_TAG) throw new GiveUp("tag");
  if (s.version !== null) throw new GiveUp("%YAML directive"); // %YAML 1.1 means other scalars to `yaml`
  const text = s.input;
  let pos = s.position;
  const result: unknown = s.result;
  if (result === null) {
    // A null key (`~: x`, `[: x]`) is "null" to js-yaml and "" to `yaml`. (A null value is caught below
    // with its collection; an empty node that is not followed by `:` is js-yaml looking for a key.)
    while (text.charCodeAt(pos) === 0x20) pos++;
    if (text.charCodeAt(pos) === 0x3a) throw new GiveUp("null key");
    return;
  }
  if (s.kind === "scalar") {
    // Only scalars on one line, after their key or dash: multi-line scalars (plain, quoted or block) and
    // a value on the line below its key (possibly after comments) are where the folding and indentation
    // rules of the two parsers differ in corner cases.
    if (s.line !== line) throw new GiveUp("multi-line scalar");
    return;
  }
  // A null in a collection (`~`, or an empty value): never valid in a spec, so nothing is lost by leaving
  // it to the full parser, and it is where the two parsers differ (js-yaml accepts an empty entry, `-`
  // alone on its line, before a less indented one).
  if (Array.isArray(result)) {
    if (result.includes(null)) throw new GiveUp("null");
  } else {
    const map = result as Record<string, unknown>;
    for (const k in map) if (map[k] === null) throw new GiveUp("null");
  }
  const last = text.charCodeAt(pos - 1);
  // A flow mapping (`{a: 1}`): rare in a spec, and where the two parsers differ most (an entry
  // without a value, a collection as a key).
  if (last === 0x7d) throw new GiveUp("flow mapping");
  // A flow sequence used as a key (`[a]: b`): the two parsers turn it into different strings (js-yaml's
  // "a" could even be a field name). Seen as a `:` after the closing bracket.
  if (last === 0x5d) {
    while (text.charCodeAt(pos) === 0x20) pos++;
    if (text.charCodeAt(pos) === 0x3a) throw new GiveUp("collection key");
  }
}

const OPTIONS: LoadOptions = {
  schema: SCHEMA,
  onWarning() {
    throw new GiveUp("warning");
  },
  listener: guard,
};

/**
 * Text the fast parser leaves to the full one, where the two differ on the characters themselves:
 * - a tab (indentation rules), or a line break that is a lone CR (a break to js-yaml only);
 * - a byte order mark (`yaml` trips on `- ` right after it; fine before a comment or an empty line);
 * - a last line of only spaces (kept by a `|+` block scalar in js-yaml only);
 * - an explicit key (`? key`), which can be a collection, turned into different strings by the two;
 * - a `#` glued to what comes before (`"x"#c`, `[a,#c`, `---#c`): `yaml` refuses some of these
 *   comments where js-yaml takes them (and outside comments a spec has no use for `#`).
 * Each check may refuse more than it needs to: that only costs time.
 */
function oddText(text: string): boolean {
  if (text.includes("\t") || /\r(?!\n)/.test(text)) return true;
  if (text.indexOf("\ufeff", 1) !== -1 || (text[0] === "\ufeff" && !/^\ufeff(#|\r?\n)/.test(text)))
    return true;
  const tail = text.slice(text.lastIndexOf("\n") + 1);
  if (tail && !tail.trim()) return true;
  if (/(?:^|[\s[{,])\?(?:[\s]|$)/.test(text)) return true;
  // A tag (`!!str`, `!foo`): js-yaml skips the type check for an empty node that `...` ends, so the
  // private-tag refusal below cannot be relied on there (`!!str` then `...` read as null, not "").
  if (/(?:^|[\s[{,])!/.test(text)) return true;
  for (let i = text.indexOf("#", 1); i !== -1; i = text.indexOf("#", i + 1)) {
    const c = text.charCodeAt(i - 1);
    if (c !== 0x20 && c !== 0x0a && !(c === 0xfeff && i === 1)) return true;
  }
  return false;
}

/**
 * The data of a single-document YAML text, or undefined when the text needs the full parser (a syntax
 * error, or a feature the two parsers do not agree on): then use parseYaml.
 */
export function parseFast(text: string): { data: unknown } | undefined {
  if (oddText(text)) return undefined;
  opened.length = 0;
  try {
    const data = load(text, OPTIONS);
    return { data: data ?? null };
  } catch (e) {
    if (e instanceof GiveUp || e instanceof YAMLException) return undefined;
    throw e;
  }
}

// --- the full parser, with positions --------------------------------------------------------------------

export function parseYaml(text: string): ParsedYaml {
  const lines = new LineCounter();
  // logLevel "error": no process warnings (e.g. for a collection used as a key) on the user's terminal.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: "error",
  });
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const syntax: Diagnostic[] = doc.errors.map((e) => ({
    path: [],
    message:
      e.code === "MULTIPLE_DOCS"
        ? "a second YAML document starts here; a spec is a single document, so remove it or merge it into the first"
        : `YAML syntax: ${e.message.split("\n")[0]}`,
    ...at(e.pos[0]),
  }));

  // Where a diagnostic about `path` points: a field (a mapping entry) at its key, whether the problem
  // is the key itself (an unknown field) or its value; a list item at the item. When the path goes
  // further than the document (a missing field), the deepest part that exists.
  const locate = (path: Path) => {
    let node: unknown = doc.contents;
    // An empty document (nothing, or only comments and `---`) has no place to point at.
    const empty = !node || (isScalar(node) && node.source === "");
    let best = empty ? undefined : at((node as { range: number[] }).range[0] as number);
    for (const step of path) {
      if (!node || typeof node !== "object" || !("items" in node)) break;
      const items = (node as { items: unknown[] }).items;
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
        if (!pair) break;
        if (isScalar(pair.key) && pair.key.range) best = at(pair.key.range[0]);
        next = pair.value;
      } else if (typeof step === "number") {
        next = items[step];
        const range = next && typeof next === "object" ? (next as { range?: number[] }).range : undefined;
        if (range) best = at(range[0] as number);
      }
      if (!next || typeof next !== "object") break;
      node = next;
    }
    return best;
  };

  let data: unknown;
  if (!syntax.length) {
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // toJS throws for an alias to an unknown anchor, or for too many aliases (a "billion laughs"
      // document): report it at the unresolved alias, else at the first alias.
      let offset: number | undefined;
      let first: number | undefined;
      visit(doc, {
        Alias(_, node) {
          first ??= node.range?.[0];
          if (!node.resolve(doc)) {
            offset = node.range?.[0];
            return visit.BREAK;
          }
        },
      });
      syntax.push({ path: [], message: `YAML: ${(e as Error).message}`, ...at(offset ?? first ?? 0) });
    }
  }
  return { data, locate, syntax };
}
