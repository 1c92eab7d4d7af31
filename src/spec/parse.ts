// YAML text -> plain data, remembering where every node is so diagnostics can say line:column.
import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";
import type { Diagnostic, Path } from "./diagnostics.ts";

export interface ParsedYaml {
  data: unknown;
  locate: (path: Path) => { line: number; column: number } | undefined;
  syntax: Diagnostic[];
}

export function parseYaml(text: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax: Diagnostic[] = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return { path: [], message: `YAML syntax: ${e.message.split("\n")[0]}`, line: pos.line, column: pos.col };
  });
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };

  // The deepest node on the path: the value if present, else the key, else the nearest parent.
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
      }
      if (!next || typeof next !== "object") break;
      const range = (next as { range?: number[] }).range;
      if (range) best = at(range[0] as number);
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
