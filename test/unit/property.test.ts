// Property test: random and mutated specs through loadSpec, compile (every host) and renderFiles never
// throw; the result is either valid with rendered files for every host, or a non-empty list of
// diagnostics, each with a path and a message. And loadSpec's fast path (js-yaml) gives exactly what the
// full parser (`yaml`) gives, for every one of these texts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { dump } from "js-yaml";
import { parse, stringify } from "yaml";
import { compile, hostNames } from "../../src/compile/compile.ts";
import { renderFiles } from "../../src/compile/render.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { GOLDEN_DIR, goldenCases } from "./helpers/golden.ts";

const SEEDS = goldenCases().map((c) => readFileSync(join(GOLDEN_DIR, c, "porthole.yaml"), "utf8"));
const SEED_DATA = SEEDS.map((t) => parse(t) as unknown);

/** The property: whatever the text, a result or diagnostics, never an exception. */
function check(text: string): "ok" | "invalid" {
  const r = loadSpec(text, "prop.yaml");
  assert.deepStrictEqual(r, loadSpec(text, "prop.yaml", { parser: "full" }), "fast path = full parser");
  if (!r.ok) {
    assert.ok(r.problems.length > 0, "an invalid spec has at least one diagnostic");
    for (const d of r.problems) {
      assert.ok(Array.isArray(d.path), "a diagnostic has a path");
      assert.equal(typeof d.message, "string");
      assert.ok(d.message.length > 0, "a diagnostic has a message");
      if (d.line !== undefined) assert.ok(d.line >= 1 && (d.column ?? 0) >= 1, "line:column start at 1");
    }
    assert.equal(r.report.split("\n").length, r.problems.length);
    return "invalid";
  }
  for (const host of hostNames(r.spec)) {
    const files = renderFiles(compile(r.spec, host));
    const names = Object.keys(files);
    assert.ok(
      names.some((n) => n.endsWith(".conf")),
      `${host} gets a WireGuard config`,
    );
    for (const n of names) assert.ok((files[n] as string).length > 0, `${host}/${n} is not empty`);
  }
  return "ok";
}

// Values a mutation puts somewhere: random ones, and ones that mean something in a spec.
const meaningful = fc.constantFrom(
  "tcp",
  "udp",
  "tcp+udp",
  "snat",
  "transparent",
  "agent",
  "device",
  "iptables",
  "nftables",
  "auto",
  "wg0",
  "ens3",
  "hub",
  "rpi",
  "",
  " ",
  "0.0.0.0/0",
  "::/0",
  "10.8.0.1",
  "10.8.0.2",
  "10.8.0.255",
  "10.8.0.0/24",
  "10.8.0.0/30",
  "fd00:8::/64",
  "fd00:8::1",
  "2001:db8::/32",
  "6000-6010",
  "7000-7010",
  "65535-1",
  "1-65535",
  "42069",
  "203.0.113.42:42069",
  "[2001:db8::1]:51820",
  "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
  "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
  0,
  1,
  22,
  80,
  1280,
  1420,
  9000,
  42069,
  51820,
  65535,
  65536,
  -1,
  2.5,
  true,
  false,
  null,
);
const value = fc.oneof(
  { weight: 4, arbitrary: meaningful },
  { weight: 1, arbitrary: fc.integer({ min: -100_000, max: 100_000 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

type Json = unknown;
type Path = (string | number)[];

function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v))
    v.forEach((x, i) => {
      paths(x, [...at, i], out);
    });
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

interface Mutation {
  pick: number;
  op: "delete" | "replace" | "swap-type" | "duplicate" | "rename";
  value: Json;
}

function mutate(doc: Json, m: Mutation): Json {
  const all = paths(doc);
  const path = all[m.pick % all.length] as Path;
  if (path.length === 0) return m.op === "replace" ? m.value : doc;
  const parentPath = path.slice(0, -1);
  let parent = doc as Record<string | number, Json>;
  for (const p of parentPath) parent = parent[p] as Record<string | number, Json>;
  const key = path.at(-1) as string | number;
  const old = parent[key];
  switch (m.op) {
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case "replace":
      parent[key] = m.value;
      break;
    case "swap-type":
      parent[key] =
        typeof old === "number"
          ? String(old)
          : typeof old === "string" && /^\d+$/.test(old)
            ? Number(old)
            : typeof old === "string"
              ? [old]
              : Array.isArray(old)
                ? (old[0] ?? {})
                : typeof old === "boolean"
                  ? String(old)
                  : old === null
                    ? 0
                    : JSON.stringify(old);
      break;
    case "duplicate":
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(old));
      else parent[`${key}`] = structuredClone(old);
      break;
    case "rename":
      if (!Array.isArray(parent)) {
        delete parent[key];
        parent[typeof m.value === "string" ? m.value : `${key}x`] = old;
      }
      break;
  }
  return doc;
}

const mutation = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom("delete", "replace", "swap-type", "duplicate", "rename") as fc.Arbitrary<
    Mutation["op"]
  >,
  value,
});

const mutatedSpec = fc
  .tuple(fc.nat({ max: SEED_DATA.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 5 }))
  .map(([i, ms]) => stringify(ms.reduce((d, m) => mutate(d, m), structuredClone(SEED_DATA[i]))));

// Text-level damage to a valid spec: lines dropped, duplicated, re-indented, characters inserted.
const damagedText = fc
  .tuple(
    fc.nat({ max: SEEDS.length - 1 }),
    fc.array(
      fc.record({
        line: fc.nat(),
        op: fc.constantFrom("drop", "dup", "indent", "dedent", "insert", "truncate"),
        text: fc.oneof(
          fc.constantFrom(":", "- ", "  ", "{", "]", "&a", "*a", "!!int", "#", "'", '"', "\t"),
          fc.string(),
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([i, ops]) => {
    const lines = (SEEDS[i] as string).split("\n");
    for (const o of ops) {
      if (!lines.length) break;
      const n = o.line % lines.length;
      const l = lines[n] as string;
      if (o.op === "drop") lines.splice(n, 1);
      else if (o.op === "dup") lines.splice(n, 0, l);
      else if (o.op === "indent") lines[n] = `  ${l}`;
      else if (o.op === "dedent") lines[n] = l.replace(/^ {1,2}/, "");
      else if (o.op === "insert")
        lines[n] = l.slice(0, n % (l.length + 1)) + o.text + l.slice(n % (l.length + 1));
      else lines.splice(n);
    }
    return lines.join("\n");
  });

// The same valid specs written in other YAML styles (quoted, flow, other indents; by `yaml` or by
// js-yaml), then maybe slightly damaged: the fast path must read each exactly as the full parser does.
const STRING_STYLES = ["PLAIN", "QUOTE_DOUBLE", "QUOTE_SINGLE", "BLOCK_LITERAL", "BLOCK_FOLDED"] as const;
const styledSpec = fc
  .record({
    seed: fc.nat({ max: SEED_DATA.length - 1 }),
    strings: fc.constantFrom(...STRING_STYLES),
    collections: fc.constantFrom("any", "block", "flow") as fc.Arbitrary<"any" | "block" | "flow">,
    indent: fc.integer({ min: 1, max: 5 }),
    indentSeq: fc.boolean(),
    lineWidth: fc.integer({ min: 0, max: 60 }),
    jsYaml: fc.boolean(),
  })
  .map((o) => {
    const data = SEED_DATA[o.seed];
    if (o.jsYaml) {
      return dump(data, {
        indent: o.indent,
        flowLevel: o.collections === "flow" ? 1 : -1,
        lineWidth: o.lineWidth || -1,
        forceQuotes: o.strings.startsWith("QUOTE"),
        quotingType: o.strings === "QUOTE_SINGLE" ? "'" : '"',
      });
    }
    return stringify(data, {
      defaultStringType: o.strings,
      defaultKeyType: "PLAIN",
      collectionStyle: o.collections,
      indent: o.indent,
      indentSeq: o.indentSeq,
      lineWidth: o.lineWidth,
      minContentWidth: 0,
    });
  });
const styledText = fc
  .tuple(
    styledSpec,
    fc.array(
      fc.record({
        at: fc.nat(),
        remove: fc.nat({ max: 3 }),
        text: fc.oneof(
          fc.constantFrom(
            ":",
            "- ",
            " ",
            "\n",
            "#",
            "'",
            '"',
            "\\",
            "[",
            "]",
            "{",
            ",",
            "? ",
            "~",
            "\r\n",
            "\ufeff",
          ),
          fc.string({ maxLength: 3 }),
        ),
      }),
      { maxLength: 3 },
    ),
  )
  .map(([text, edits]) =>
    edits.reduce((t, e) => {
      const at = e.at % (t.length + 1);
      return t.slice(0, at) + e.text + t.slice(at + e.remove);
    }, text),
  );

// YAML-ish noise built from the language's own tokens (anchors, aliases, tags, merges, documents).
const yamlNoise = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "hub:",
        "peers:",
        "forwards:",
        "version: 1",
        "\n",
        "\n  ",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "&a ",
        "*a",
        "<<: *a",
        "!!str ",
        "!!map ",
        "? ",
        "|\n  ",
        ">-\n  ",
        "---\n",
        "...\n",
        "%YAML 1.2\n",
        '"\\u0000"',
        "~",
        "null",
        "0x10",
        "1e400",
        ".nan",
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 40 },
  )
  .map((xs) => xs.join(""));

// FC_RUNS=10 runs ten times as many cases; FC_SEED=n replays a reported seed.
const runs = (n: number) => ({
  numRuns: Math.round(n * Number(process.env.FC_RUNS ?? 1)),
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined,
});

test("the golden specs themselves are valid (the mutations start from valid specs)", () => {
  for (const text of SEEDS) assert.equal(check(text), "ok");
});

test("mutated specs (fields deleted, replaced, retyped, duplicated, renamed): a result or diagnostics", () => {
  let valid = 0;
  fc.assert(
    fc.property(mutatedSpec, (text) => {
      if (check(text) === "ok") valid++;
    }),
    runs(2000),
  );
  // Some mutations keep the spec valid, so compile and render are exercised on unusual specs too.
  assert.ok(valid > 10, `only ${valid} mutated specs were valid`);
});

test("the valid specs in other YAML styles, and damaged: a result or diagnostics", () => {
  let valid = 0;
  fc.assert(
    fc.property(styledText, (text) => {
      if (check(text) === "ok") valid++;
    }),
    runs(1000),
  );
  assert.ok(valid > 100, `only ${valid} restyled specs were valid`);
});

test("damaged spec text: a result or diagnostics", () => {
  fc.assert(
    fc.property(damagedText, (text) => void check(text)),
    runs(1000),
  );
});

test("random YAML and random documents: a result or diagnostics", () => {
  fc.assert(
    fc.property(yamlNoise, (text) => void check(text)),
    runs(1000),
  );
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => void check(stringify(v))),
    runs(500),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => void check(text)),
    runs(500),
  );
});
