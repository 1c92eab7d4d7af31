// The hub's spec file as the daemon reads it: a hand edit with an error leaves the hub on its last
// valid spec, refusing every change (peer add, join, expose) until the file is fixed.
import type { Check } from "./check.ts";
import type { HubContext } from "./hub-context.ts";

export const specFile: Check<HubContext> = {
  id: "spec",
  about: "the hub's spec file has no errors (with errors the hub refuses every change)",
  run: async (ctx) => {
    if (!ctx.specProblem) return [];
    const problem = await ctx.specProblem();
    if (problem === null) return { id: "spec", status: "ok", found: "the spec file has no errors" };
    // One line here: the first problem (file:line:column), and how many more validate lists.
    const [first, ...more] = problem.split("\n").filter((l) => l.trim());
    const at = /^(\S+?)(?::\d+:\d+)? /.exec(first ?? "")?.[1];
    return {
      id: "spec",
      status: "fail",
      found: `the hub runs on its last valid spec and refuses every change (peer add, join, expose): ${first}${more.length ? ` (and ${more.length} more lines)` : ""}`,
      fix: [
        // The file removed: its line names the command that puts it back; no line:column to correct.
        / is missing \(/.test(first ?? "")
          ? "run the command named above; the hub takes the file at its next reconcile, within 2 s"
          : `correct it at the line:column named (\`porthole validate --spec ${at ?? "FILE"}\` lists every problem); the hub takes the file at its next reconcile, within 2 s`,
      ],
    };
  },
};
