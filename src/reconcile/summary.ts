// What changed in the forwards, in the words a user thinks in: "+ forward web tcp/80 → rpi:8080".
import { formatCidr } from "../net/ip.ts";
import { formatRange } from "../net/ports.ts";
import type { Forward, Spec } from "../spec/types.ts";

export function describeForward(f: Forward): string {
  const proto = f.protos.join("+");
  const allow = f.allowFrom.length ? ` from ${f.allowFrom.map(formatCidr).join(", ")}` : "";
  return `${f.name} ${proto}/${formatRange(f.port)} → ${f.peer}:${formatRange(f.targetPort)} (${f.mode})${allow}`;
}

/** Descriptions by forward (a daemon compares each spec with the one before: describe each forward once). */
const described = new WeakMap<Forward, string>();
function describeOnce(f: Forward): string {
  const known = described.get(f);
  if (known !== undefined) return known;
  const d = describeForward(f);
  described.set(f, d);
  return d;
}

export function forwardChanges(before: Spec | null, after: Spec): string[] {
  const old = new Map((before?.forwards ?? []).map((f) => [f.name, describeOnce(f)]));
  const now = new Map(after.forwards.map((f) => [f.name, describeOnce(f)]));
  const lines: string[] = [];
  for (const [name, text] of now) {
    const was = old.get(name);
    if (was === undefined) lines.push(`+ forward ${text}`);
    else if (was !== text) lines.push(`~ forward ${text} (was ${was.slice(name.length + 1)})`);
  }
  for (const [name, text] of old) if (!now.has(name)) lines.push(`- forward ${text}`);
  return lines;
}
