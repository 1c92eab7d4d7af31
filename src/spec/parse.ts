// YAML text -> plain data. Two parsers, one meaning:
//
// - parseFast (js-yaml, ~10x faster) gives the data only. It is the happy path: loadSpec uses its data
//   when the spec is valid, and otherwise starts again with parseYaml.
// - parseYaml (`yaml`, with source positions) gives syntax errors and the line:column of every node, so
//   diagnostics can say where. It is the reference: the fast path must never accept a text that it
//   refuses or reads differently.
//
// To keep that promise, parseFast resolves plain scalars with exactly the `yaml` package's YAML 1.2 core
// schema rules (below), and gives up (returns undefined, so the caller takes the slow path) on anything
// where the two libraries differ or that a spec has no use for: tags, anchors and aliases, %YAML
// directives, collections used as keys, comments not separated from a quoted scalar or a collection,
// warnings, and every js-yaml error (multiple documents, duplicate keys, bad indentation, ...).
// test/unit/yaml-parity.test.ts pins this.
import { type LoadOptions, load, Schema, type State, Type } from "js-yaml";
import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";
import type { Diagnostic, Path } from "./diagnostics.ts";

export interface ParsedYaml {
  data: unknown;
  locate: (path: Path) => { line: number; column: number } | undefined;
  syntax: Diagnostic[];
}

// --- the fast path ------------------------------------------------------------------------------------

const NOT_RESOLVED = Symbol("string");

/** A plain (unquoted) scalar's value under the `yaml` package's core schema (yaml/dist/schema/core). */
export function plainScalar(s: string): unknown {
  const c = s.charCodeAt(0);
  // Most scalars in a spec are names, addresses and keys: skip the patterns when the first character
  // rules them all out (each pattern below starts with one of ~ n N t T f F + - . or a digit).
  if (
    s.length &&
    c !== 0x7e &&
    c !== 0x2b &&
    c !== 0x2d &&
    c !== 0x2e &&
    !(c >= 0x30 && c <= 0x39) &&
    !"nNtTfF".includes(s[0] as string)
  )
    return NOT_RESOLVED;
  if (/^(?:~|[Nn]ull|NULL)?$/.test(s)) return null;
  if (/^(?:[Tt]rue|TRUE)$/.test(s)) return true;
  if (/^(?:[Ff]alse|FALSE)$/.test(s)) return false;
  if (/^0o[0-7]+$/.test(s)) return Number.parseInt(s.slice(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return Number.parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s))
    return s.endsWith("nan") || s.endsWith("NaN") || s.endsWith("NAN")
      ? Number.NaN
      : s[0] === "-"
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY;
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return Number.parseFloat(s);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return Number.parseFloat(s);
  return NOT_RESOLVED;
}

// One implicit type for every plain scalar, under a private tag: an explicit tag in the text (`!!int`,
// `!!str`, `!foo`) is unknown to this schema, so js-yaml throws and the slow path takes over.
const PLAIN_TAG = "tag:porthole.invalid,2025:plain";
let resolved: unknown;
const plain = new Type(PLAIN_TAG, {
  kind: "scalar",
  resolve(data: unknown) {
    // js-yaml passes a second argument (the tag) only for an explicit tag: refuse it.
    // biome-ignore lint/complexity/noArguments: the arity tells an explicit tag from an implicit one
    if (arguments.length > 1 || typeof data !== "string") return false;
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

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

const OPTIONS: LoadOptions = {
  schema: SCHEMA,
  onWarning() {
    throw new GiveUp("warning");
  },
  listener(event, state) {
    if (event !== "close") return;
    const s = state as ParserState;
    if (s.anchor !== null) throw new GiveUp("anchor"); // no anchors, hence no aliases either
    if (s.tag !== null && s.tag !== "?" && s.tag !== PLAIN_TAG) throw new GiveUp("tag");
    if (s.version !== null) throw new GiveUp("%YAML directive"); // %YAML 1.1 means other scalars to `yaml`
    const text = s.input;
    let pos = s.position;
    // `"x"#c` or `[a]#c`: a comment must follow white space (`yaml` refuses it, js-yaml does not).
    if (text.charCodeAt(pos) === 0x23 && pos > 0 && !isSpace(text.charCodeAt(pos - 1)))
      throw new GiveUp("comment");
    // A flow collection used as a mapping key (`[a]: b`): js-yaml and `yaml` turn it into different
    // strings. Seen as a `:` right after the collection's closing bracket.
    const last = text.charCodeAt(pos - 1);
    if ((s.kind === "sequence" || s.kind === "mapping") && (last === 0x5d || last === 0x7d)) {
      while (text.charCodeAt(pos) === 0x20 || text.charCodeAt(pos) === 0x09) pos++;
      if (text.charCodeAt(pos) === 0x3a) throw new GiveUp("collection key");
    }
  },
};

/**
 * The data of a single-document YAML text, or undefined when the text needs the full parser (a syntax
 * error, or a feature the two parsers do not agree on): then use parseYaml.
 */
export function parseFast(text: string): { data: unknown } | undefined {
  // An explicit key (`? key`) can be a collection too; rare in a spec, so it goes the slow way.
  try {
    const data = load(text, OPTIONS);
    return { data: data ?? null };
  } catch {
    return undefined;
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
    let best =
      node && (node as { range?: number[] }).range
        ? at((node as { range: number[] }).range[0] as number)
        : undefined;
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
