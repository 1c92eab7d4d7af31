// Changes the hub makes to porthole.yaml: items appended to or removed from a top-level list (peers,
// forwards). Three renderings of one edit, pure:
//
// - editData: the meaning (plain data in, plain data out).
// - editText: the text, line by line, for specs in plain block layout (what `hub init` writes and most
//   people keep). Untouched lines stay byte for byte, and it costs a few milliseconds where the document
//   round trip below takes ~0.8 s at 10,000 forwards. The caller accepts its text only if it reads back
//   as editData's result.
// - editDocument: through the `yaml` document, for every other layout (flow lists, odd indentation).
import { isSeq, type parseDocument, stringify } from "yaml";

export type ListKey = "peers" | "forwards";
type Item = Record<string, unknown>;

export type SpecEdit = { append: ListKey; item: Item } | { remove: ListKey; where: (item: Item) => boolean };

const listOf = (data: Record<string, unknown>, key: ListKey): Item[] | undefined => {
  const v = data[key];
  return Array.isArray(v) ? (v as Item[]) : undefined;
};

export function editData(data: Record<string, unknown>, edits: SpecEdit[]): Record<string, unknown> {
  const out = { ...data };
  for (const e of edits) {
    if ("append" in e) out[e.append] = [...(listOf(out, e.append) ?? []), e.item];
    else {
      const list = listOf(out, e.remove);
      if (list) out[e.remove] = list.filter((x) => !e.where(x));
    }
  }
  return out;
}

export function editDocument(doc: ReturnType<typeof parseDocument>, edits: SpecEdit[]): void {
  for (const e of edits) {
    if ("append" in e) {
      const list = doc.get(e.append);
      // An empty list (`forwards: []`, as `hub init` writes it) becomes a block list: one item a few
      // lines, where a flow list would grow into one line of thousands of items.
      if (isSeq(list) && list.items.length === 0) list.flow = false;
      if (isSeq(list)) list.add(doc.createNode(e.item));
      else doc.set(e.append, doc.createNode([e.item]));
    } else {
      const list = doc.get(e.remove);
      if (isSeq(list)) list.items = list.items.filter((n) => !e.where((n as { toJSON(): Item }).toJSON()));
    }
  }
}

/** A top-level block list in the text: its line range and where each item starts. */
interface Block {
  /** Lines after the key's line up to the next top-level key (exclusive). */
  from: number;
  to: number;
  indent: number;
  /** Line of each item's "- ". */
  items: number[];
}

const isComment = (line: string) => /^\s*#/.test(line);
const isBlank = (line: string) => /^\s*$/.test(line);
const indentOf = (line: string) => line.length - line.trimStart().length;

function findBlock(lines: string[], key: ListKey): Block | undefined {
  const at = lines.findIndex((l) => l.startsWith(`${key}:`));
  if (at < 0 || !/^\s*(#.*)?$/.test((lines[at] as string).slice(key.length + 1))) return undefined;
  let to = at + 1;
  while (to < lines.length) {
    const l = lines[to] as string;
    if (!isBlank(l) && !isComment(l) && indentOf(l) === 0 && !l.startsWith("- ")) break;
    to++;
  }
  const items: number[] = [];
  let indent = -1;
  for (let i = at + 1; i < to; i++) {
    const l = lines[i] as string;
    if (isBlank(l) || isComment(l)) continue;
    if (indent < 0) indent = indentOf(l);
    if (indentOf(l) < indent) return undefined;
    if (indentOf(l) === indent) {
      if (!l.startsWith("- ", indent)) return undefined;
      items.push(i);
    }
  }
  return items.length ? { from: at + 1, to, indent, items } : undefined;
}

/** The line an item's text starts on: its "- " line, or the comments right above it (they go with it). */
function itemStart(lines: string[], dash: number, floor: number): number {
  let s = dash;
  while (s - 1 >= floor && isComment(lines[s - 1] as string)) s--;
  return s;
}

/**
 * The edited text, or undefined when the text is not in a layout handled here (the caller then edits
 * the document). `data` is what the text reads as.
 */
export function editText(text: string, data: Record<string, unknown>, edits: SpecEdit[]): string | undefined {
  if (text.includes("\r") || !text.endsWith("\n")) return undefined;
  let lines = text.slice(0, -1).split("\n");
  let current = data;
  for (const e of edits) {
    const key = "append" in e ? e.append : e.remove;
    const block = findBlock(lines, key);
    const list = listOf(current, key);
    if (!block || !list || list.length !== block.items.length) return undefined;
    if ("append" in e) {
      let last = block.to - 1;
      while (isBlank(lines[last] as string) || isComment(lines[last] as string)) last--;
      const pad = " ".repeat(block.indent);
      const item = stringify([e.item], { lineWidth: 0 })
        .trimEnd()
        .split("\n")
        .map((l) => pad + l);
      lines = [...lines.slice(0, last + 1), ...item, ...lines.slice(last + 1)];
    } else {
      const drop = new Set<number>();
      block.items.forEach((dash, i) => {
        if (!e.where(list[i] as Item)) return;
        const next = block.items[i + 1];
        let end = next === undefined ? block.to : itemStart(lines, next, dash + 1);
        // The last item keeps what trails it (comments and blank lines before the next key).
        if (next === undefined)
          while (end - 1 > dash && (isBlank(lines[end - 1] as string) || isComment(lines[end - 1] as string)))
            end--;
        for (let l = itemStart(lines, dash, block.from); l < end; l++) drop.add(l);
      });
      // A list left empty is written as one (`key: []`), as the document would.
      if (drop.size && block.items.every((_, i) => e.where(list[i] as Item))) return undefined;
      lines = lines.filter((_, i) => !drop.has(i));
    }
    current = editData(current, [e]);
  }
  return `${lines.join("\n")}\n`;
}
