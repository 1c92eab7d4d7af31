// Reads a wg-quick config the way wg-quick(8) and wg(8) do: `#` starts a comment anywhere on a line,
// keys are case-insensitive, a key may repeat (Address, AllowedIPs, PostUp accumulate) and a value may
// be a comma list. Comments are kept beside the section they sit in, since peer names live there.

/** One `Key = value` line; `comment` is the text after `#` on the same line, if any. */
export interface Entry {
  /** Lower-cased, for matching; `name` is as written. */
  key: string;
  name: string;
  value: string;
  line: number;
  comment?: string;
}

/** A `[Interface]` or `[Peer]` section with the comments around its header. */
export interface Section {
  kind: string;
  line: number;
  /** Whole-line comments between the previous section's last entry and this header, nearest last. */
  before: string[];
  /** The comment on the header line itself (`[Peer] # nas`). */
  header?: string;
  /** Whole-line comments after the header, before and between this section's entries. */
  inside: string[];
  entries: Entry[];
}

/** Comment text without its leading and trailing `#` marks (`### begin pi ###` -> `begin pi`). */
const commentText = (c: string) =>
  c
    .replace(/^#+/, "")
    .replace(/#+\s*$/, "")
    .trim();

/**
 * Splits the config into sections. Text before the first header is ignored, as wg-quick ignores it.
 * Errors: none; a line that is neither a header, a `Key = value` nor a comment is skipped (wg would
 * refuse the file, and so will porthole's validation of what is left).
 */
export function readWgQuick(text: string): Section[] {
  const out: Section[] = [];
  let pending: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const hash = raw.indexOf("#");
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    const comment = hash >= 0 ? commentText(raw.slice(hash)) : undefined;
    const current = out.at(-1);
    if (!body) {
      if (comment) pending.push(comment);
      return;
    }
    const head = /^\[(\w+)\]$/.exec(body);
    if (head) {
      out.push({
        kind: (head[1] as string).toLowerCase(),
        line: i + 1,
        before: pending,
        ...(comment ? { header: comment } : {}),
        inside: [],
        entries: [],
      });
      pending = [];
      return;
    }
    const eq = body.indexOf("=");
    if (eq <= 0 || !current) return;
    // Comments between a section's entries belong to it; those after its last entry may introduce
    // the next section, so they stay pending until we know which.
    current.inside.push(...pending);
    pending = [];
    const name = body.slice(0, eq).trim();
    current.entries.push({
      key: name.toLowerCase(),
      name,
      value: body.slice(eq + 1).trim(),
      line: i + 1,
      ...(comment ? { comment } : {}),
    });
  });
  return out;
}

/** Every value of `key` in `s`, comma lists split: `Address = a, b` + `Address = c` -> [a, b, c]. */
export function listValues(s: Section, key: string): string[] {
  return s.entries
    .filter((e) => e.key === key)
    .flatMap((e) => e.value.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The last value of a single-valued key (wg-quick keeps the last one). */
export const lastValue = (s: Section, key: string): string | undefined =>
  s.entries.filter((e) => e.key === key).at(-1)?.value;

/**
 * The peer's name from its comments, as config generators write them: `### begin NAME ###` (PiVPN),
 * `# BEGIN_PEER NAME` (wireguard-install), `### Client NAME` (angristan), `# Client: NAME (id)`
 * (wg-easy), `# friendly_name = NAME`, `# NAME / email` (wg-gen-web), or a short `# NAME`. End markers,
 * commented-out settings and sentences are not names. Returns the raw name (not yet a valid spec name).
 */
export function peerNameOf(s: Section): string | undefined {
  const candidates = [
    ...(s.header ? [s.header] : []),
    ...[...s.before].reverse(),
    ...s.inside,
    ...s.entries.flatMap((e) => (e.comment ? [e.comment] : [])),
  ];
  for (const c of candidates) {
    const name = nameIn(c);
    if (name) return name;
  }
  return undefined;
}

const NOT_NAMES = /^(server|interface|peers?|clients?|wireguard|config(uration)?)$/i;

function nameIn(comment: string): string | undefined {
  const c = comment.trim();
  if (/^end\b|^end_peer\b/i.test(c)) return undefined;
  const tagged =
    /^begin(?:_peer)?[:\s]+(.+)$/i.exec(c) ??
    /^client[:\s]+(.+?)(?:\s*\(.*\))?$/i.exec(c) ??
    /^(?:friendly_?name|name|peer|device|user)\s*[:=]\s*(.+)$/i.exec(c);
  if (tagged) return (tagged[1] as string).trim() || undefined;
  if (c.includes("=") || /^note\b|^do not\b|^your\b/i.test(c)) return undefined;
  const first = c.split(" / ")[0]?.trim() ?? "";
  if (!first || NOT_NAMES.test(first) || first.split(/\s+/).length > 3 || first.length > 40) return undefined;
  return first;
}
