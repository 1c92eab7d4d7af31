// What changed in the forwards, in the words a user thinks in: "+ forward web tcp/80 → rpi:8080".
import { type Cidr, formatCidr } from "../net/ip.ts";
import { formatRange, type PortRange } from "../net/ports.ts";
import type { Forward, Spec } from "../spec/types.ts";

export function describeForward(f: Forward): string {
  const proto = f.protos.join("+");
  const allow = f.allowFrom.length ? ` from ${f.allowFrom.map(formatCidr).join(", ")}` : "";
  return `${f.name} ${proto}/${formatRange(f.port)} → ${f.peer}:${formatRange(f.targetPort)} (${f.mode})${allow}`;
}

const sameRange = (a: PortRange, b: PortRange) => a.from === b.from && a.to === b.to;

/** Field by field: cheap enough to run over 10,000 forwards on every apply (describing each is not). */
function sameForward(a: Forward, b: Forward): boolean {
  return (
    a.peer === b.peer &&
    a.mode === b.mode &&
    sameRange(a.port, b.port) &&
    sameRange(a.targetPort, b.targetPort) &&
    a.protos.length === b.protos.length &&
    a.protos.every((p, i) => p === b.protos[i]) &&
    a.allowFrom.length === b.allowFrom.length &&
    a.allowFrom.every((c, i) => {
      const d = b.allowFrom[i] as Cidr;
      return c.family === d.family && c.base === d.base && c.prefix === d.prefix;
    })
  );
}

export function forwardChanges(before: Spec | null, after: Spec): string[] {
  const old = new Map((before?.forwards ?? []).map((f) => [f.name, f]));
  const lines: string[] = [];
  for (const f of after.forwards) {
    const was = old.get(f.name);
    if (was === undefined) lines.push(`+ forward ${describeForward(f)}`);
    else if (!sameForward(was, f))
      lines.push(`~ forward ${describeForward(f)} (was ${describeForward(was).slice(f.name.length + 1)})`);
    old.delete(f.name);
  }
  for (const f of old.values()) lines.push(`- forward ${describeForward(f)}`);
  return lines;
}
