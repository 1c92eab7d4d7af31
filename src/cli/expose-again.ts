// `expose` (or the hub's `forward add`) run again for a public port that peer already forwards: the hub
// refuses a second forward on it, naming the auto-made name and the port as two problems. Said here as
// a user sees it: the same request is already in place (nothing to do, exit 0), or a different one
// needs `unexpose` (`forward rm`) first.
import type { ForwardView } from "../protocol/responses.ts";

/** What `expose` asked for, as the request carried it (allowFrom and name: undefined when not given). */
export interface ExposeWanted {
  proto: string;
  port: string;
  targetPort: string;
  mode: string;
  allowFrom?: string[];
  name?: string;
}

const protos = (p: string) => p.split("+");
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * This peer's forward (in `mine`) on the asked public port with a protocol in common, judged against
 * `want`: `same` when it is what was asked (target, mode, protocols, the allow-list and the name when
 * given); null when there is none (the hub's refusal is about something else and stands).
 */
export function exposeAgain(
  mine: ForwardView[],
  peer: string,
  want: ExposeWanted,
  /** The command that removes a forward, and the one run again: the peer's, or the hub's (`forward add`). */
  redo: { remove: string; again: string } = { remove: "porthole unexpose", again: "this expose" },
): { same: boolean; text: string } | null {
  const f = mine.find(
    (x) =>
      x.peer === peer && x.port === want.port && protos(x.proto).some((p) => protos(want.proto).includes(p)),
  );
  if (!f) return null;
  const same =
    f.proto === want.proto &&
    f.targetPort === want.targetPort &&
    f.mode === want.mode &&
    sameSet(f.allowFrom, want.allowFrom ?? []) &&
    (want.name === undefined || want.name === f.name);
  const now = `${f.proto}/${f.port} is already forwarded to ${peer}:${f.targetPort} (${f.mode}${f.allowFrom.length ? `, from ${f.allowFrom.join(", ")}` : ""}; forward "${f.name}")`;
  return same
    ? { same, text: `${now}: nothing changed (\`porthole doctor\` checks that it answers)` }
    : {
        same,
        text: `${now}; one forward per public port: to change it, \`${redo.remove} ${f.name}\`, then run ${redo.again} again`,
      };
}
