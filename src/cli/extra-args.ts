// commander's own "too many arguments for 'expose'. Expected 1 argument but got 2." names neither the
// extra text nor what the command takes: porthole refuses extra arguments itself, saying both.
import type { Command } from "commander";
import { EXIT, UserError } from "./errors.ts";
import { path } from "./side.ts";

/**
 * Lets commander pass extra arguments through, and refuses them before any action runs (commander's
 * preAction hook): a UserError (exit 2) `too many arguments for \`porthole expose\`: "81"; it takes
 * <PUBLIC>`. Call before the commands are registered: they inherit the setting.
 */
export function refuseExtraArguments(program: Command): void {
  program.allowExcessArguments(true);
  program.hook("preAction", (_root, action) => {
    const takes = action.registeredArguments;
    if (takes.at(-1)?.variadic) return;
    const extra = action.args.slice(takes.length);
    if (!extra.length) return;
    const wants = takes.length
      ? `it takes ${takes.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(" ")}`
      : "it takes no arguments";
    throw new UserError(
      `too many arguments for \`porthole ${path(action)}\`: ${extra.map((x) => JSON.stringify(x)).join(" ")}; ${wants}`,
      EXIT.usage,
    );
  });
}
