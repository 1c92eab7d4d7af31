// Making a directory and its parents for a file about to be written.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * The directories to make, outermost first, for `dir` to exist: those above it up to the first that
 * exists ([] when `dir` does).
 */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  return missing;
}

// Each directory by one plain mkdir, not Node's { recursive: true }: that one retries forever where
// mkdir answers ENOENT under a parent that exists (/proc/x, /sys/x), so a bad path hung the command.
// A directory another process made meanwhile (EEXIST) is fine; any other error is thrown (its `path`
// names the directory).

/** Makes directory `dir` and its missing parents; throws Node's error (ENOENT, EACCES, ENOTDIR …). */
export function makeDirsNow(dir: string, mode?: number): void {
  for (const d of missingDirs(dir)) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

/** makeDirsNow, as a promise (each mkdir is one quick syscall, as missingDirs' existsSync already is). */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  makeDirsNow(dir, mode);
}
