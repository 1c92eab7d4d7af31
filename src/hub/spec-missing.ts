// The hub's spec file gone from a hub that was applied here (removed or moved by hand): said with the
// command that puts back the spec it applied last, never `hub init`, which would start a new hub with
// none of this one's peers. Pure: the caller reads the applied record (the daemon through Host.files,
// the CLI at once).

/**
 * Why `file` (the hub's spec) is missing, given the applied record at `record` and its text
 * (`recordText`, null when absent); null when no hub was applied here (a new machine: `hub init`), or
 * the record does not parse.
 */
export function specMissingProblem(file: string, record: string, recordText: string | null): string | null {
  let applied: { role?: unknown; specText?: unknown } | null = null;
  try {
    applied = JSON.parse(recordText ?? "null");
  } catch {
    return null;
  }
  if (applied?.role !== "hub" || typeof applied.specText !== "string") return null;
  // Read as a file, not require()d: a relative state directory would be looked up as a module.
  const read =
    "process.stdout.write(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).specText)";
  const restore = `node -e "${read}" ${shellWord(record)} > ${shellWord(file)}`;
  return `${file} is missing (removed or moved by hand?); the spec this hub applied last is in ${record}: \`${restore}\` puts it back`;
}

/** `path` as one shell word, for a command a person pastes: quoted when it holds anything but -./_ and alphanumerics. */
function shellWord(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
