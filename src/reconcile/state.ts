// What porthole applied last on this host, kept in the state directory (the previous one too):
// the source for re-applying at boot, for rolling back, and for `down`.
import { join } from "node:path";
import { TABLE_OPEN } from "../compile/nft-text.ts";
import type { Host } from "../host/types.ts";
import type { FirewallPlan, PolicyRouting } from "../plan/plan.ts";

export interface AppliedRecord {
  host: string;
  role: "hub" | "peer";
  specText: string;
  appliedAt: string;
  wgInterface: string;
  firewall: FirewallPlan;
  routing?: PolicyRouting;
  /** sysctl values as they were before porthole first changed them, restored by `down`. */
  sysctlBefore: Record<string, string>;
  files: string[];
  /** Where peers were last seen (public key -> ip:port), to reach them at once after a restart. */
  endpoints?: Record<string, string>;
  /** WireGuard peers' names by public key, so a peer removed later is named in the plan, not shown by key. */
  peerNames?: Record<string, string>;
}

/** The applied record's path in `stateDir`. */
export const appliedRecordFile = (stateDir: string) => join(stateDir, "applied.json");
const file = appliedRecordFile;

/**
 * The record this process last read or wrote, by path, with its exact file text: a daemon applies
 * again and again, and the record (the whole spec and ruleset, ~2 MB with 10,000 forwards) need not be
 * parsed back while the file still holds that text. Any other text (edited, or written by another
 * process) is parsed as before. Callers treat records as read-only (they copy before changing).
 */
const known = new Map<string, { text: string; record: AppliedRecord; stamp?: string }>();

function parsed(path: string, text: string, stamp: string | null): AppliedRecord {
  const hit = known.get(path);
  if (hit && hit.text === text) {
    if (stamp !== null) hit.stamp = stamp;
    return hit.record;
  }
  const record = upgraded(JSON.parse(text));
  known.set(path, { text, record, ...(stamp !== null ? { stamp } : {}) });
  return record;
}

/**
 * A record written before table inet porthole travelled as data holds its script as text: its table
 * body becomes the plan's chains, so the same table is restored on failure and the next apply, finding
 * no sets to compare, reloads it whole.
 */
function upgraded(record: AppliedRecord): AppliedRecord {
  const nft: unknown = record.firewall?.nft;
  if (typeof nft !== "string") return record;
  const open = nft.indexOf(`\n${TABLE_OPEN}\n`);
  const body = open < 0 ? "" : nft.slice(open + TABLE_OPEN.length + 2, nft.lastIndexOf("\n}"));
  return {
    ...record,
    firewall: { ...record.firewall, nft: body ? { collections: [], chains: body } : null },
  };
}

export async function readApplied(
  host: Host,
  stateDir: string,
  which: "current" | "previous" = "current",
): Promise<AppliedRecord | null> {
  const path = which === "current" ? file(stateDir) : `${file(stateDir)}.prev`;
  // Not read again while its stamp says it holds the text known (Host["files"].stamp): the daemon
  // reads the record every round, ~2.6 MB of text and buffer at 10,000 forwards.
  const stamp = (await host.files.stamp?.(path)) ?? null;
  const hit = known.get(path);
  if (stamp !== null && hit?.stamp === stamp) return hit.record;
  const text = await host.files.read(path);
  return text ? parsed(path, text, stamp) : null;
}

export async function writeApplied(
  host: Host,
  stateDir: string,
  record: AppliedRecord | null,
): Promise<void> {
  // The current record becomes the previous one: linked into place where the host can (no re-read
  // and rewrite of a record that holds the whole spec and ruleset), else copied.
  if (host.files.keep) await host.files.keep(file(stateDir), `${file(stateDir)}.prev`);
  else {
    const current = await host.files.read(file(stateDir));
    if (current) await host.files.write(`${file(stateDir)}.prev`, current, 0o600);
  }
  const path = file(stateDir);
  // The previous record is read back only by a revert (`apply --confirm`), so it is parsed then rather
  // than kept: in a daemon it was ~3 MB (text and record, 10,000 forwards) held for nothing.
  known.delete(`${path}.prev`);
  if (record) {
    const text = `${JSON.stringify(record, null, 2)}\n`;
    await host.files.write(path, text, 0o600);
    // Plain data (strings, numbers, arrays, records), so this reads back as JSON.parse(text) would,
    // but for undefined fields, which readers treat as absent.
    known.set(path, { text, record: { ...record } });
  } else {
    await host.files.remove(path);
    known.delete(path);
  }
}

/**
 * Where peers were seen (public key -> "ip:port", from `wg show`), merged into `record` (the current
 * one, as read) and written in its place: not an apply, so the previous record (what `--confirm`
 * reverts to) stays as it is. Returns whether anything changed; no record, nothing written.
 */
export async function saveEndpoints(
  host: Host,
  stateDir: string,
  record: AppliedRecord | null,
  seen: Record<string, string>,
): Promise<boolean> {
  if (!record) return false;
  const endpoints = { ...record.endpoints, ...seen };
  if (JSON.stringify(endpoints) === JSON.stringify(record.endpoints ?? {})) return false;
  const path = file(stateDir);
  const text = `${JSON.stringify({ ...record, endpoints }, null, 2)}\n`;
  await host.files.write(path, text, 0o600);
  known.set(path, { text, record: { ...record, endpoints } });
  return true;
}

/**
 * What an apply is about to create (interface, routing, files), written before its steps run when they
 * touch the interface or routing: a process killed mid-apply leaves no applied record, and `down`
 * still finds what the interrupted apply made. Removed once the apply is recorded or undone.
 */
const intentFile = (stateDir: string) => join(stateDir, "applying.json");

export async function writeIntent(host: Host, stateDir: string, record: AppliedRecord): Promise<void> {
  await host.files.write(intentFile(stateDir), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

export async function readIntent(host: Host, stateDir: string): Promise<AppliedRecord | null> {
  const text = await host.files.read(intentFile(stateDir));
  if (!text) return null;
  try {
    return upgraded(JSON.parse(text));
  } catch {
    return null; // cut short by the same crash: what it named is in the applied record or nowhere
  }
}

export async function clearIntent(host: Host, stateDir: string): Promise<void> {
  if ((await host.files.read(intentFile(stateDir))) !== null) await host.files.remove(intentFile(stateDir));
}
