// The hub's desired state: porthole.yaml, edited through the YAML document so a person's comments
// and layout survive. Every change is validated with the spec's rules before it is written
// (atomically, under a lock, the previous version kept as porthole.yaml.prev).
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parseDocument } from "yaml";
import type { Host } from "../host/types.ts";
import { specHash } from "../protocol/spec-hash.ts";
import { appliedRecordFile } from "../reconcile/state.ts";
import type { Diagnostic } from "../spec/diagnostics.ts";
import { loadSpec } from "../spec/load.ts";
import { parseFast } from "../spec/parse.ts";
import type { Spec } from "../spec/types.ts";
import { validate } from "../spec/validate.ts";
import { editData, editDocument, editText, type SpecEdit } from "./spec-edit.ts";
import { specMissingProblem } from "./spec-missing.ts";

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
  /** `files`: the host's (the real one, or a test's); `file`: porthole.yaml; `stateDir`: for its lock. */
  constructor(
    readonly files: Host["files"],
    readonly file: string,
    readonly stateDir: string,
  ) {}

  /** The spec last read or written, with its plain data once an edit read it (undefined: not yet). */
  private cached?: Loaded & { hash: string; data?: unknown };

  /** The file's text that failed to load last, and why (a hand edit with an error is read every 2 s). */
  private failed?: { text: string; error: SpecRejected };

  /**
   * The file's stamp (Host["files"].stamp) when it was last read, and the text read then: a daemon
   * loads the spec several times a round and for every request, and reading 10,000 forwards' text each
   * time was ~1 MB of garbage a load (the text, and its buffer).
   */
  private read?: { stamp: string; text: string };

  /** The current spec; parsed again only when the file's text changed. Throws SpecRejected when invalid. */
  async load(): Promise<Loaded & { hash: string }> {
    const stamp = (await this.files.stamp?.(this.file)) ?? null;
    const text =
      stamp !== null && this.read?.stamp === stamp ? this.read.text : await this.files.read(this.file);
    if (text === null) {
      const why = await this.missingProblem();
      if (!why) throw new Error(`no spec at ${this.file}: run \`porthole hub init\` first`);
      throw new SpecRejected([{ path: [], message: why }], why);
    }
    this.read = stamp === null ? undefined : { stamp, text };
    if (this.cached?.text === text) return this.cached;
    if (this.failed?.text === text) throw this.failed.error;
    const r = loadSpec(text, this.file);
    if (!r.ok) {
      this.failed = { text, error: new SpecRejected(r.problems, r.report) };
      throw this.failed.error;
    }
    this.failed = undefined;
    this.cached = { text, spec: r.spec, hash: specHash(text) };
    return this.cached;
  }

  /** specMissingProblem for this store's file, from the applied record in its state directory. */
  async missingProblem(): Promise<string | null> {
    const record = appliedRecordFile(this.stateDir);
    return specMissingProblem(this.file, record, await this.files.read(record).catch(() => null));
  }

  /**
   * The spec the hub runs on, for what shows the live state (status, peers, identities, metrics): the
   * file when it is valid; else the last valid one this process read, or `fallback`'s text (the spec
   * applied last), with `problem` saying what is wrong with the file. Throws when no valid spec is known.
   */
  async live(
    fallback: () => Promise<string | null> = async () => null,
  ): Promise<Loaded & { hash: string; problem: string | null }> {
    try {
      return { ...(await this.load()), problem: null };
    } catch (e) {
      if (!(e instanceof SpecRejected)) throw e;
      if (this.cached) return { ...this.cached, problem: e.message };
      const text = await fallback();
      const r = text ? loadSpec(text) : null;
      if (!text || !r?.ok) throw e;
      return { text, spec: r.spec, hash: specHash(text), problem: e.message };
    }
  }

  /**
   * Applies the edits and writes the result only if it is a valid spec. The text is edited line by line
   * when its layout allows and the result reads back as meant; otherwise through the YAML document.
   * Either way a person's comments and layout survive.
   */
  async update(edits: SpecEdit[]): Promise<Loaded & { previous: string }> {
    return this.files.lock(join(this.stateDir, "spec.lock"), async () => {
      const current = await this.load();
      const known = this.cached?.text === current.text ? this.cached.data : undefined;
      const data = known ?? parseFast(current.text)?.data;
      let text: string | undefined;
      let parsed: unknown;
      if (isRecord(data)) {
        const want = editData(data, edits);
        text = editText(current.text, data, edits);
        parsed = text === undefined ? undefined : parseFast(text)?.data;
        if (!isDeepStrictEqual(parsed, want)) text = undefined;
      }
      if (text === undefined) {
        const doc = parseDocument(current.text);
        editDocument(doc, edits);
        text = doc.toString();
        parsed = undefined;
      }
      const valid = parsed === undefined ? undefined : validate(parsed);
      const r = valid?.ok ? valid : loadSpec(text, this.file);
      if (!r.ok) throw new SpecRejected(r.problems, r.report);
      await this.files.write(`${this.file}.prev`, current.text);
      await this.files.write(this.file, text);
      // The data is kept only when this edit read it back (a document edit leaves it to the next one).
      this.cached = { text, spec: r.spec, hash: specHash(text), data: parsed };
      return { text, spec: r.spec, previous: current.text };
    });
  }

  /**
   * Puts back `previous` (the text before an update) while the file still holds `written` (that
   * update's): a change whose apply failed must not stay in the spec, where every later apply would
   * fail on it. A file edited since is left alone. True when it was put back.
   */
  async revert(written: string, previous: string): Promise<boolean> {
    return this.files.lock(join(this.stateDir, "spec.lock"), async () => {
      if ((await this.files.read(this.file)) !== written) return false;
      await this.files.write(this.file, previous);
      this.cached = undefined;
      this.read = undefined;
      return true;
    });
  }

  async create(text: string): Promise<Loaded> {
    const r = loadSpec(text, this.file);
    if (!r.ok) throw new SpecRejected(r.problems, r.report);
    await this.files.write(this.file, text);
    return { text, spec: r.spec };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
