// Files the user names on the command line (--spec, --token-file, import's FILE, render --out): a file
// that cannot be read or written is refused in the argument's words — which option, which path, why in
// words (not Node's ENOENT) and what to do — as a usage error (exit 2), before anything is changed.
import { dirname, resolve } from "node:path";
import { makeDirNow, pathExists, readTextNow, writeTextNow } from "../host/files.ts";
import { EXIT, UserError } from "./errors.ts";
import { configDir, stateDir } from "./paths.ts";

/** Node's error codes for a path, in words. */
const WHY: Record<string, string> = {
  ENOENT: "does not exist",
  EACCES: "cannot be read or written by this user (permission denied)",
  EPERM: "cannot be read or written by this user (operation not permitted)",
  EISDIR: "is a directory, not a file",
  ENOTDIR: "is not under a directory: a part of the path is a file",
  EEXIST: "is not under a directory: a part of the path is a file",
  ELOOP: "is a loop of symbolic links",
  ENAMETOOLONG: "is too long a path",
  EROFS: "is on a read-only file system",
};

/** Why a file operation on a path failed, in words ("does not exist"); the error's own words for others. */
export function pathProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && WHY[err.code]) ?? `cannot be used: ${err.message}`;
}

/**
 * The text of the file that `field` ("--spec", "--token-file", "FILE") names. Throws a UserError
 * (exit 2) `FIELD: "PATH" does not exist; TODO` when it cannot be read; `todo` says what to give instead.
 */
export function readGivenFile(field: string, path: string, todo: string): string {
  try {
    return readTextNow(path);
  } catch (e) {
    throw new UserError(`${field}: ${JSON.stringify(path)} ${pathProblem(e)}; ${todo}`, EXIT.usage);
  }
}

/**
 * Why writing a file failed, in words: the file's own problem, or the directory above it that could
 * not be made (`directory "/proc/x" cannot be made: this file system allows no new directory there`).
 */
export function writeProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.syscall !== "mkdir" || !err.path) return pathProblem(e);
  return `cannot be written: its directory ${JSON.stringify(err.path)} cannot be made: ${mkdirProblem(e)}`;
}

/** Why mkdir failed, in words. */
function mkdirProblem(e: unknown): string {
  // mkdir answers ENOENT under a parent that exists only where new entries are not allowed (/proc).
  if ((e as NodeJS.ErrnoException).code === "ENOENT") return "this file system allows no new directory there";
  return pathProblem(e);
}

/**
 * The usage error (exit 2) for a file that `field` names and that could not be written; `todo` says
 * what to give instead.
 */
export function writeRefusal(field: string, path: string, e: unknown, todo: string): UserError {
  return new UserError(`${field}: ${JSON.stringify(path)} ${writeProblem(e)}; ${todo}`, EXIT.usage);
}

/**
 * Refuses, as readGivenFile would, a path that `field` names when nothing is there (for a file read
 * later by other code: `status --spec`).
 */
export function givenFileExists(field: string, path: string, todo: string): void {
  if (!pathExists(path))
    throw new UserError(`${field}: ${JSON.stringify(path)} ${WHY.ENOENT}; ${todo}`, EXIT.usage);
}

/** porthole's own directories (absolute), which it makes itself when missing, 0700. */
const ownDirs = () => [resolve(configDir()), resolve(stateDir())];

/**
 * Refuses (UserError, exit 2) a file that `field` names ("--write") in a directory that does not
 * exist: porthole makes no directory the user did not name, where a mistyped path would put the file
 * (a private key) where nobody looks. porthole's own config and state directories are the exception:
 * the write makes them (0700 for a private file). `todo` says what to give instead.
 */
export function givenFileDir(field: string, path: string, todo: string): void {
  const dir = dirname(resolve(path));
  if (pathExists(dir) || ownDirs().includes(dir)) return;
  throw new UserError(
    `${field}: ${JSON.stringify(path)}: its directory ${JSON.stringify(dirname(path))} does not exist; porthole makes no directory for a file you name (a mistyped path would put it where nobody looks): create it first, or ${todo}`,
    EXIT.usage,
  );
}

/**
 * Makes the directory that `field` ("--out") names when missing: that one directory, as `mkdir` would,
 * never its missing parents (givenFileDir's reason; porthole's own directories are made, 0700). Throws
 * a UserError (exit 2) naming the parent that does not exist, or why the directory cannot be made.
 */
export function givenOutDir(field: string, dir: string): void {
  if (pathExists(dir)) return;
  const own = ownDirs().includes(resolve(dir));
  if (!own) givenFileDir(field, dir, "give a directory under one that exists");
  try {
    makeDirNow(dir, own ? 0o700 : undefined);
  } catch (e) {
    throw new UserError(
      `${field}: ${JSON.stringify(dir)} cannot be made: ${mkdirProblem(e)}; give a directory this user may write to`,
      EXIT.usage,
    );
  }
}

/**
 * Writes `text` to `path`, a file under the directory that `field` ("--out") names (givenOutDir made
 * it). Throws writeRefusal's UserError (exit 2) `FIELD: "PATH" is a directory, not a file; …` when it
 * cannot be written.
 */
export function writeGivenFile(field: string, path: string, text: string): void {
  try {
    writeTextNow(path, text);
  } catch (e) {
    throw writeRefusal(field, path, e, "give a directory this user may write to");
  }
}
