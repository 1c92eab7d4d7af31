// Files porthole owns: written atomically (temp file, fsync, rename), private ones 0600 from the start.
import { link, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

export async function writeAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(text);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Makes `to` hold what `from` holds now: a hard link to `from`'s inode, renamed over `to` (atomic;
 * `from` is only ever replaced by rename, so the linked file never changes afterwards). False if
 * `from` does not exist. The caller's next writeAtomic in the same directory syncs the directory.
 */
export async function keepCopy(from: string, to: string): Promise<boolean> {
  const tmp = `${to}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  try {
    await link(from, tmp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  await rename(tmp, to);
  return true;
}
