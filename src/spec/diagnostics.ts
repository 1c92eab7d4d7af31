// A problem in a spec: where (YAML path, and line:column once located), the bad value, and what is accepted.
export type Path = (string | number)[];

export interface Diagnostic {
  path: Path;
  message: string;
  line?: number;
  column?: number;
}

export function formatPath(path: Path): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    // An odd key (spaces, a newline, punctuation) is quoted, so a diagnostic stays on one line.
    else if (!/^[A-Za-z_][\w-]*$/.test(p)) out += `[${JSON.stringify(p)}]`;
    else out += out ? `.${p}` : p;
  }
  return out || "(document)";
}

/** Quotes a value the way the user wrote it, short enough for one line. */
/** "1 peer", "2 peers", "0 peers": a count with its noun (`many`: an irregular plural, "1 key not in the spec"). */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function show(value: unknown): string {
  const text =
    typeof value === "number"
      ? String(value) // Infinity and NaN too (`.inf`, `.nan`), which JSON would call null
      : value === undefined
        ? "nothing"
        : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function formatDiagnostic(d: Diagnostic, file: string): string {
  const where = d.line ? `${file}:${d.line}:${d.column}` : file;
  return `${where} ${formatPath(d.path)}: ${d.message}`;
}

/** Collects diagnostics, one per field: a field already reported (or its parent) is not reported again. */
export class Problems {
  readonly list: Diagnostic[] = [];
  add(path: Path, message: string): void {
    this.push({ path, message });
  }
  push(...ds: Diagnostic[]): void {
    for (const d of ds) {
      const dup = this.list.some(
        (o) => o.path.length <= d.path.length && o.path.every((s, i) => s === d.path[i]),
      );
      if (!dup) this.list.push(d);
    }
  }
}
