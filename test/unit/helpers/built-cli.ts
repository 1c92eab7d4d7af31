// The built CLI (bin/porthole.js -> dist/) for tests that run it as a user would.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const BIN = join(ROOT, "bin/porthole.js");
const DIST = join(ROOT, "dist/porthole.cjs");

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than the sources (call from `before`). */
export function ensureBuilt(): void {
  if (!existsSync(DIST) || statSync(DIST).mtimeMs < newestMtime(join(ROOT, "src")))
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "pipe" });
}
