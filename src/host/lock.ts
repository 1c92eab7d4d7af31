// One writer at a time for the hub's state: a lock file holding the owner's PID, and within one
// process a queue per lock file. A lock whose owner is gone (killed, crashed) is taken over.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";

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
  // A fresh machine has no state directory yet (`hub init` right after installing).
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(await readFile(path, "utf8").catch(() => "0"));
      if (!owner || owner === process.pid || !alive(owner)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`${path} is held by process ${owner}; is another porthole writing?`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
