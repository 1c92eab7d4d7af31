// sysctl values, policy routing and the files that make the setup survive a reboot.
import { markText, type PlannedFile, type PolicyRouting } from "../plan/plan.ts";
import type { Step } from "./steps.ts";

export function diffSysctl(want: Record<string, string>, have: Record<string, string | null>): Step[] {
  return Object.entries(want)
    .filter(([k, v]) => have[k] !== v)
    .map(([k, v]) => ({
      subsystem: "sysctl" as const,
      text: `~ sysctl ${k} = ${v}${have[k] !== null ? ` (was ${have[k]})` : ""}`,
      run: (h) => h.sysctl.set(k, v),
      undo: async (h) => {
        const was = have[k];
        if (was !== null && was !== undefined) await h.sysctl.set(k, was);
      },
    }));
}

export function diffRouting(
  want: PolicyRouting | undefined,
  present: boolean,
  stale: PolicyRouting | undefined,
): Step[] {
  const r = "routing" as const;
  if (want && !present) {
    return [
      {
        subsystem: r,
        text: `+ policy routing: fwmark ${markText(want)} -> table ${want.table} (default dev ${want.device}) for replies of transparent forwards`,
        run: (h) => h.routing.apply(want),
        undo: (h) => h.routing.remove(want),
      },
    ];
  }
  if (!want && stale && present) {
    return [
      {
        subsystem: r,
        text: `- policy routing table ${stale.table}`,
        run: (h) => h.routing.remove(stale),
        undo: (h) => h.routing.apply(stale),
      },
    ];
  }
  return [];
}

/** `want`: the planned files by their path on this host; `have`: their text there now (null: absent). */
export function diffFiles(
  want: Record<string, Pick<PlannedFile, "content" | "mode">>,
  have: Record<string, string | null>,
): Step[] {
  const steps: Step[] = [];
  for (const [path, { content: text, mode }] of Object.entries(want)) {
    const old = have[path] ?? null;
    if (old === text) continue;
    const restore = async (h: Parameters<Step["run"]>[0]) => {
      if (old === null) await h.files.remove(path);
      else await h.files.write(path, old);
    };
    if (text === null)
      steps.push({
        subsystem: "files",
        text: `- file ${path}`,
        run: (h) => h.files.remove(path),
        undo: restore,
      });
    else
      steps.push({
        subsystem: "files",
        text: `${old === null ? "+" : "~"} file ${path}`,
        run: (h) => h.files.write(path, text, mode),
        undo: restore,
      });
  }
  return steps;
}
