// What `porthole expose` says once the hub accepted the forward: "reaches" only when this peer checked
// that its target answers on the tunnel address (doctor's own target check, doctor/peer-targets.ts);
// otherwise that it is forwarded, and each problem found as a warning with its fix; last, which
// sources the hub admits (the forward's allowFrom as the hub stored it).
import type { Outcome } from "../doctor/peer-scene.ts";
import type { ForwardView } from "../protocol/responses.ts";

/**
 * `outcomes`: the forward's target per protocol ("share tcp") as doctor's peer check judged it here;
 * empty when it could not be checked. Returns the lines for stdout and the warnings for stderr.
 */
export function exposeReport(
  f: ForwardView,
  hubAt: string,
  peer: string,
  outcomes: { name: string; outcome: Outcome }[],
): { out: string[]; warnings: string[] } {
  const what = `${f.proto}/${f.port} on ${hubAt}`;
  const to = `${peer}:${f.targetPort} (${f.mode}; forward "${f.name}")`;
  const allOk = outcomes.length > 0 && outcomes.every((o) => o.outcome.status === "ok");
  const out = [allOk ? `${what} now reaches ${to}` : `${what} is forwarded to ${to}`];
  const warnings: string[] = [];
  if (!outcomes.length)
    warnings.push(
      `not checked whether anything answers on ${peer}:${f.targetPort}: run \`porthole doctor\` here`,
    );
  for (const { outcome: o } of outcomes) {
    if (o.status === "ok") out.push(`  checked on ${peer}: ${o.found}`);
    else
      warnings.push(
        `${o.status === "unknown" ? "not checked" : "warning"} on ${peer}: ${o.found}${o.fix ? `\n  fix: ${o.fix}` : ""}`,
      );
  }
  // Who the hub lets in, as it accepted the forward: an --allow that was dropped would show here. Said
  // as the hub's rule, not as "reachable": nothing here checked the path from the internet (a cloud
  // firewall), and the target may not answer (the warnings above).
  out.push(`  ${allowText(f.allowFrom)}`);
  return { out, warnings };
}

/**
 * Who the hub admits by `allowFrom` (the forward's prefixes), in words. A /0 admits a whole family:
 * "open only to 0.0.0.0/0 … drops other sources" said the opposite; the other family is still held to
 * its prefixes (none: all of it dropped), which "open to every IPv4 source" alone left unsaid.
 */
export function allowText(allowFrom: string[]): string {
  if (!allowFrom.length)
    return "open to every source address (no --allow): the hub drops no client by its address";
  const family = (c: string) => (c.includes(":") ? "IPv6" : "IPv4");
  const whole = allowFrom.filter((c) => c.endsWith("/0"));
  if (!whole.length)
    return `open only to ${allowFrom.join(", ")} (--allow): the hub drops other sources' packets`;
  const open = new Set(whole.map(family));
  if (open.size === 2) return `open to every source address (--allow ${whole.join(", ")})`;
  const [a, b] = open.has("IPv4") ? ["IPv4", "IPv6"] : ["IPv6", "IPv4"];
  const rest = allowFrom.filter((c) => family(c) === b);
  return rest.length
    ? `open to every ${a} source address (--allow ${whole.join(", ")}), and to ${rest.join(", ")}: the hub drops other ${b} sources' packets`
    : `open to every ${a} source address (--allow ${whole.join(", ")}): the hub drops ${b} sources' packets`;
}
