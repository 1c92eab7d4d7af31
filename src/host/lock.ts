// One writer at a time for the hub's state: a lock file holding the owner's PID, and within one
// process a queue per lock file. A lock whose owner is gone (killed, crashed) is taken over.
import { link, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { makeDirs } from "./dirs.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** The last holder queued in this process, per lock file. */
const queued = new Map<string, Promise<unknown>>();

/** Runs `fn` holding the lock file `path` (see Host.files.lock); throws after `timeoutMs` ms. */
export function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const next = (queued.get(path) ?? Promise.resolve()).then(() => lockFile(path, fn, timeoutMs));
  const settled = next.catch(() => {});
  queued.set(path, settled);
  void settled.then(() => queued.get(path) === settled && queued.delete(path));
  return next;
}

/**
 * The file lock. A file that names this process is stale (the queue above lets one holder in at a
 * time): left by an earlier process that had the same PID, before a reboot.
 */
async function lockFile<T>(path: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // A fresh machine has no state directory yet (`hub init` right after installing); porthole's own
  // directories are private (0700), whatever the shell's umask.
  await makeDirs(dirname(path), 0o700);
  // The lock file appears with the PID already in it (written beside it, then hard-linked into
  // place, which fails if it exists): created empty and then written, another process could read it
  // empty in between, take it for stale and remove it, and both would hold the lock.
  const mine = `${path}.${process.pid}`;
  await writeFile(mine, String(process.pid), { mode: 0o600 });
  for (;;) {
    try {
      await link(mine, path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
        await rm(mine, { force: true });
        throw e;
      }
      // Gone meanwhile (its holder let go): try again, never remove what another may have just made.
      const text = await readFile(path, "utf8").catch(() => null);
      if (text === null) continue;
      const owner = Number(text);
      if (!owner || owner === process.pid || !alive(owner)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        await rm(mine, { force: true });
        throw new Error(`${path} is held by process ${owner}; is another porthole writing?`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await rm(mine, { force: true });
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
