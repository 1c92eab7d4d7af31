// Port numbers and inclusive port ranges ("80", 80, "6000-6010").
export interface PortRange {
  from: number;
  to: number;
}

export type PortParse = { ok: true; range: PortRange } | { ok: false; reason: string };

const ACCEPTED = "a port 1-65535 or a range like 6000-6010";

export function parsePortRange(input: unknown): PortParse {
  const text = typeof input === "number" ? String(input) : typeof input === "string" ? input.trim() : null;
  if (text === null) return { ok: false, reason: `expected ${ACCEPTED}` };
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return { ok: false, reason: `is not ${ACCEPTED}` };
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || from > 65535 || to < 1 || to > 65535)
    return { ok: false, reason: `is out of range; expected ${ACCEPTED}` };
  if (to < from) return { ok: false, reason: `is a reversed range; write it low-high, e.g. ${to}-${from}` };
  return { ok: true, range: { from, to } };
}

export const rangeLength = (r: PortRange) => r.to - r.from + 1;
export const overlaps = (a: PortRange, b: PortRange) => a.from <= b.to && b.from <= a.to;
export const containsPort = (r: PortRange, p: number) => r.from <= p && p <= r.to;
export const formatRange = (r: PortRange, sep = "-") =>
  r.from === r.to ? `${r.from}` : `${r.from}${sep}${r.to}`;

/**
 * A port or range as the spec writes it ("80", "6000-6010"): "080" and " 0444-0450 " name the same ports
 * as "80" and "444-450", and a text compared or put in a name must not tell them apart. Text that is not
 * a valid port or range comes back trimmed, for its validation to refuse in its own words.
 */
export function canonicalPort(input: number | string): string {
  const r = parsePortRange(input);
  return r.ok ? formatRange(r.range) : String(input).trim();
}

/**
 * A port or range as a spec's YAML holds it: one port as the number a person writes (`port: 80`, not
 * `port: "80"`), a range as its text ("6000-6010"); surrounding whitespace dropped.
 */
export function portValue(text: string): number | string {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}
