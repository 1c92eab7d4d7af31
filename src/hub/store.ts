// The hub's desired state: porthole.yaml, edited through the YAML document so a person's comments
// and layout survive. Every change is validated with the spec's rules before it is written
// (atomically, under a lock, the previous version kept as porthole.yaml.prev).
import { createHash } from "node:crypto";
import { join } from "node:path";
import { isSeq, parseDocument } from "yaml";
import { readText, writeAtomic } from "../host/files.ts";
import type { Diagnostic } from "../spec/diagnostics.ts";
import { loadSpec } from "../spec/load.ts";
import type { Spec } from "../spec/types.ts";
import { withLock } from "./lock.ts";

export const specHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

export class SpecRejected extends Error {
  constructor(
    readonly problems: Diagnostic[],
    report: string,
  ) {
    super(report);
  }
}

export interface Loaded {
  text: string;
  spec: Spec;
}

export class SpecStore {
  constructor(
    readonly file: string,
    readonly stateDir: string,
  ) {}

  private cached?: Loaded & { hash: string };

  /** The current spec; parsed again only when the file's text changed. */
  async load(): Promise<Loaded & { hash: string }> {
    const text = await readText(this.file);
    if (text === null) throw new Error(`no spec at ${this.file}: run \`porthole hub init\` first`);
    if (this.cached?.text === text) return this.cached;
    const r = loadSpec(text, this.file);
    if (!r.ok) throw new SpecRejected(r.problems, r.report);
    this.cached = { text, spec: r.spec, hash: specHash(text) };
    return this.cached;
  }

  /** Edits the document; writes it only if the result is a valid spec. */
  async update(edit: (doc: ReturnType<typeof parseDocument>, spec: Spec) => void): Promise<Loaded> {
    return withLock(join(this.stateDir, "spec.lock"), async () => {
      const current = await this.load();
      const doc = parseDocument(current.text);
      edit(doc, current.spec);
      const text = doc.toString();
      const r = loadSpec(text, this.file);
      if (!r.ok) throw new SpecRejected(r.problems, r.report);
      await writeAtomic(`${this.file}.prev`, current.text);
      await writeAtomic(this.file, text);
      return { text, spec: r.spec };
    });
  }

  async create(text: string): Promise<Loaded> {
    const r = loadSpec(text, this.file);
    if (!r.ok) throw new SpecRejected(r.problems, r.report);
    await writeAtomic(this.file, text);
    return { text, spec: r.spec };
  }
}

/** Appends `item` to the top-level list `key`, creating the list if needed. */
export function appendTo(
  doc: ReturnType<typeof parseDocument>,
  key: string,
  item: Record<string, unknown>,
): void {
  const list = doc.get(key);
  if (isSeq(list)) list.add(doc.createNode(item));
  else doc.set(key, doc.createNode([item]));
}

/** Removes the items of top-level list `key` for which `match` holds; returns how many. */
export function removeFrom(
  doc: ReturnType<typeof parseDocument>,
  key: string,
  match: (item: Record<string, unknown>) => boolean,
): number {
  const list = doc.get(key);
  if (!isSeq(list)) return 0;
  const before = list.items.length;
  list.items = list.items.filter((n) => !match((n as { toJSON(): Record<string, unknown> }).toJSON()));
  return before - list.items.length;
}
