// Files the user names on the command line (--spec, --token-file, import's FILE, render --out): a file
// that cannot be read or written is refused in the argument's words — which option, which path, why in
// words (not Node's ENOENT) and what to do — as a usage error (exit 2), before anything is changed.
import { pathExists, readTextNow, writeTextNow } from "../host/files.ts";
import { EXIT, UserError } from "./errors.ts";

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
  // mkdir answers ENOENT under a parent that exists only where new entries are not allowed (/proc).
  const why = err.code === "ENOENT" ? "this file system allows no new directory there" : pathProblem(e);
  return `cannot be written: its directory ${JSON.stringify(err.path)} cannot be made: ${why}`;
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

/**
 * Writes `text` to `path`, a file under the directory that `field` ("--out") names (made when missing).
 * Throws writeRefusal's UserError (exit 2) `FIELD: "PATH" is a directory, not a file; …` when it cannot
 * be written.
 */
export function writeGivenFile(field: string, path: string, text: string): void {
  try {
    writeTextNow(path, text);
  } catch (e) {
    throw writeRefusal(field, path, e, "give a directory this user may write to");
  }
}
