// How the daemons (`hub run`, `peer run`) log: one line per event, so `journalctl` and `grep` see
// whole events. journald stamps each line itself (JOURNAL_STREAM is set when stdout goes to it), so
// the daemons add their own timestamp only when something else collects their output.

/** "repaired drift:\n  - x\n  + y" → "repaired drift: - x; + y" */
export function oneLine(message: string): string {
  const [first = "", ...rest] = message
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  if (!rest.length) return first;
  return first.endsWith(":") ? `${first} ${rest.join("; ")}` : [first, ...rest].join("; ");
}

/** A log function for a daemon; `env` is the process environment (a parameter for tests). */
export function daemonLogger(
  env: NodeJS.ProcessEnv = process.env,
  write: (line: string) => void = (l) => console.log(l),
): (message: string) => void {
  const journald = !!env.JOURNAL_STREAM;
  return (message) => {
    const line = oneLine(message);
    write(journald ? line : `${new Date().toISOString()} ${line}`);
  };
}
