// Files porthole owns: written atomically (temp file, fsync, rename), private ones 0600 from the start;
// and the thin file reads and writes of the CLI (the only code besides host/ and the lab that would
// touch the filesystem: see docs/architecture.md).
import { type BigIntStats, existsSync, readFileSync, writeFileSync } from "node:fs";
import { chmod, link, open, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { makeDirs, makeDirsNow } from "./dirs.ts";
import { withLock } from "./lock.ts";
import type { Host } from "./types.ts";

/** Whether anything (file, directory, socket) exists at `path`. */
export const pathExists = (path: string): boolean => existsSync(path);

/** The file's text, read now; throws Node's error (its `code`: ENOENT, EACCES …) when it cannot. */
export const readTextNow = (path: string): string => readFileSync(path, "utf8");

/**
 * Writes a plain file (not atomically: for output a person asked for) into a directory that exists:
 * none is made here (see cli/given-file.ts). Throws Node's error (ENOENT for a missing directory).
 */
export function writeTextNow(path: string, text: string): void {
  writeFileSync(path, text);
}

/** Makes directory `dir` (and its missing parents; `mode` for each: 0o700 for porthole's own). */
export const makeDirNow = (dir: string, mode?: number): void => makeDirsNow(dir, mode);

/** The names in a directory; [] when it cannot be read (absent). */
export const listDir = (path: string): Promise<string[]> => readdir(path).catch(() => [] as string[]);

export const setMode = (path: string, mode: number): Promise<void> => chmod(path, mode);

export async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

export async function writeAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  // A private file's missing directories are private too (hub init and join make /etc/porthole and
  // /var/lib/porthole this way, from a shell whose umask leaves them 0755; the daemons' unit has 0077).
  await makeDirs(dirname(path), (mode & 0o077) === 0 ? 0o700 : undefined);
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

/**
 * Removes a directory and everything in it (or a file); false if it was not there. A directory that
 * is a mount point (the lab bind-mounts each host's own) is emptied and left in place.
 */
export async function removeTree(path: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return false;
    if (code !== "ENOTDIR") throw e;
    await rm(path, { force: true }); // a file: just that
    return true;
  }
  for (const n of names) await rm(join(path, n), { recursive: true, force: true });
  try {
    await rmdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EBUSY") throw e;
  }
  return true;
}

/**
 * A file changed this recently (ms) has no stamp. The kernel stamps files with a coarse clock (a tick of
 * up to 10 ms; 1–2 s on some filesystems), so a write in the tick a reader read in could leave size and
 * times as they were: git's "racily clean" index entries, solved the same way (compare the times only
 * of files older than the read).
 */
export const STAMP_SETTLED_MS = 3000;

/**
 * Host["files"].stamp: "device:inode:size:mtime:ctime" (times in ns), or null (absent, or changed
 * within STAMP_SETTLED_MS of `nowMs`, the Unix time in ms).
 */
export async function fileStamp(path: string, nowMs = Date.now()): Promise<string | null> {
  let st: BigIntStats;
  try {
    st = await stat(path, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  // ctime: set by every write, rename and chmod, and never by hand (utimes sets mtime alone).
  const settled = BigInt(Math.floor(nowMs) - STAMP_SETTLED_MS) * 1_000_000n;
  if (st.ctimeNs > settled || st.mtimeNs > settled) return null;
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** This machine's files as the Host interface has them (real-host.ts; the CLI's stores and identity). */
export const hostFiles: Host["files"] = {
  read: readText,
  write: writeAtomic,
  remove: removeFile,
  setMode,
  lock: withLock,
  keep: keepCopy,
  stamp: (path) => fileStamp(path),
};
