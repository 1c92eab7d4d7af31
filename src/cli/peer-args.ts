// The peer's commands' arguments (expose, unexpose, peer run, join) and the forward options `forward add`
// shares with expose, checked by the same schemas as every other argument (arg.ts, port-args.ts), but at
// the top of the action rather than as commander parses them: this module (and zod with it) loads only
// for a command that runs, so `expose --help` and the agent's commands start without it (the start-up
// goal, bench/README.md). Nothing has been read or changed when a check fails.
import { parsePortRange } from "../net/ports.ts";
import { AllowFromField, ForwardNameField } from "../spec/fields.ts";
import { spanProblem } from "../spec/forward-rules.ts";
import { PathText, valid, wholeNumber } from "./arg.ts";
import { EXIT, UserError } from "./errors.ts";
import type { SharedForwardOptions } from "./forward-options.ts";
import { portOrName, portRangeArg, publicPort } from "./port-args.ts";

/** --allow and --name of `forward add` and `expose`; throws the usage error of the first bad one. */
export function checkSharedForwardOptions(o: SharedForwardOptions): void {
  for (const a of o.allow ?? []) valid("--allow", AllowFromField)(a);
  if (o.name !== undefined) valid("--name", ForwardNameField)(o.name);
}

/**
 * A target port (`option`: --to, --target-port) that spans as many ports as the public one: ranges map
 * 1:1. Both already valid; checked before anything is asked (the hub need not answer), as the spec's own
 * rule words it. Exit 2, a usage error: an option bad beside another, as hub init's --snat-pool beside
 * --subnet is (the README's exit codes); the same in a spec file is an invalid spec (1).
 */
export function checkSpan(port: string | number, target: string | number, option: string): void {
  const [a, b] = [parsePortRange(String(port)), parsePortRange(String(target))];
  const why = a.ok && b.ok ? spanProblem(a.range, b.range, String(target)) : undefined;
  if (why) throw new UserError(`${option}: ${why}`, EXIT.usage);
}

/** `expose PUBLIC --to PORT [--allow ...] [--name ...]`: the public port, protocol and target, as the spec writes them. */
export function exposeArgs(pub: string, o: SharedForwardOptions & { to: string }) {
  const p = publicPort("PUBLIC")(pub);
  const to = portRangeArg("--to", { publicPort: p.port })(o.to);
  checkSpan(p.port, to, "--to");
  checkSharedForwardOptions(o);
  return { ...p, to };
}

/** `unexpose PUBLIC-OR-NAME` */
export const unexposeArg = portOrName("PUBLIC-OR-NAME");

/** `peer run --interval MS --stale-after SECONDS` */
export const runOptions = (o: { interval: string; staleAfter: string }) => ({
  intervalMs: valid("--interval", wholeNumber(100, 60_000))(o.interval),
  staleAfterS: valid("--stale-after", wholeNumber(5, 3600))(o.staleAfter),
});

/** `join --token-file FILE` */
export const tokenFileOption = (file: string | undefined) =>
  file === undefined ? undefined : valid("--token-file", PathText)(file);
