// The hub's runtime state next to the spec: pending join tokens, settings, and the token secret.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readText, writeAtomic } from "../host/files.ts";
import type { Enrolling } from "../plan/plan.ts";
import { withLock } from "./lock.ts";

export interface PendingToken extends Enrolling {
  name: string;
  admin: boolean;
  /** Expiry, unix ms. */
  expires: number;
  /** When the token was used (its enrollment key stays a few seconds so the answer gets back). */
  usedAt?: number;
}

export interface Runtime {
  tokens: PendingToken[];
  webhook?: string;
}

/** How long an enrollment key outlives its use: long enough for the answer to travel back. */
export const USED_GRACE_MS = 5000;

export class RuntimeStore {
  constructor(readonly dir: string) {}
  /** The file (hub-runtime.json in the state directory). */
  get path() {
    return join(this.dir, "hub-runtime.json");
  }
  private get file() {
    return this.path;
  }

  async load(): Promise<Runtime> {
    const text = await readText(this.file);
    return text ? (JSON.parse(text) as Runtime) : { tokens: [] };
  }

  /**
   * Changes the runtime file under its lock, re-read inside it: the daemon (tokens) and the CLI
   * (`hub webhook`) write it from different processes, and neither may lose the other's change.
   */
  async update(edit: (r: Runtime) => void): Promise<Runtime> {
    return withLock(join(this.dir, "hub-runtime.lock"), async () => {
      const r = await this.load();
      edit(r);
      await writeAtomic(this.file, `${JSON.stringify(r, null, 2)}\n`, 0o600);
      return r;
    });
  }

  async secret(): Promise<Buffer> {
    const file = join(this.dir, "token.key");
    const text = await readText(file);
    if (text) return Buffer.from(text.trim(), "base64");
    const key = randomBytes(32);
    await writeAtomic(file, `${key.toString("base64")}\n`, 0o600);
    return key;
  }
}

/** Enrollment keys the hub must carry now: unexpired, and unused or just used. */
export function activeEnrolling(r: Runtime, now: number): Enrolling[] {
  return r.tokens
    .filter((t) => t.expires > now && (t.usedAt === undefined || now - t.usedAt < USED_GRACE_MS))
    .map(({ id, publicKey, address }) => ({ id, publicKey, address }));
}
