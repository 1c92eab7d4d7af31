// The hub's runtime state next to the spec: pending join tokens, settings, and the token secret.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Host } from "../host/types.ts";
import type { Enrolling } from "../plan/plan.ts";

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
  /** `files`: the host's (the real one, or a test's); `dir`: the state directory. */
  constructor(
    readonly files: Host["files"],
    readonly dir: string,
  ) {}
  /** The file (hub-runtime.json in the state directory). */
  get path() {
    return join(this.dir, "hub-runtime.json");
  }

  async load(): Promise<Runtime> {
    const text = await this.files.read(this.path);
    return text ? (JSON.parse(text) as Runtime) : { tokens: [] };
  }

  /**
   * Changes the runtime file under its lock, re-read inside it: the daemon (tokens) and the CLI
   * (`hub webhook`) write it from different processes, and neither may lose the other's change.
   */
  async update(edit: (r: Runtime) => void): Promise<Runtime> {
    return this.files.lock(join(this.dir, "hub-runtime.lock"), async () => {
      const r = await this.load();
      edit(r);
      await this.files.write(this.path, `${JSON.stringify(r, null, 2)}\n`, 0o600);
      return r;
    });
  }

  async secret(): Promise<Buffer> {
    const file = join(this.dir, "token.key");
    const text = await this.files.read(file);
    if (text) return Buffer.from(text.trim(), "base64");
    const key = randomBytes(32);
    await this.files.write(file, `${key.toString("base64")}\n`, 0o600);
    return key;
  }
}

/** Enrollment keys the hub must carry now: unexpired, and unused or just used. */
export function activeEnrolling(r: Runtime, now: number): Enrolling[] {
  return r.tokens
    .filter((t) => t.expires > now && (t.usedAt === undefined || now - t.usedAt < USED_GRACE_MS))
    .map(({ id, publicKey, address }) => ({ id, publicKey, address }));
}
