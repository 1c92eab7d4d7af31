// loadSpec reads a spec with js-yaml first (fast, no positions) and with `yaml` (positions, the
// reference) when there is something to report or the fast parser gives up. These tests pin that the
// two agree on everything porthole accepts: for each tricky input, whether the fast path takes it, and
// that the outcome (the spec, or the exact diagnostics) is the same as with the full parser alone.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseDocument } from "yaml";
import { bigSpecYaml } from "../../bench/spec-gen.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { parseFast, plainScalar } from "../../src/spec/parse.ts";

const HUB = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const RPI = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

/** A valid spec; `hubExtra` lines go into hub, `peerExtra` into the peer, `fwdExtra` into the forward. */
const spec = ({ hubExtra = "", peerExtra = "", fwdExtra = "", top = "" } = {}) =>
  `${top}version: 1\nhub:\n  endpoint: 203.0.113.42\n  listenPort: 42069\n  publicKey: ${HUB}\n${hubExtra}peers:\n  - name: rpi\n    publicKey: ${RPI}\n${peerExtra}forwards:\n  - name: share\n    port: 80\n    peer: rpi\n${fwdExtra}`;

/** The full parser alone, the reference. */
const full = (text: string) => loadSpec(text, "porthole.yaml", { parser: "full" });

interface Case {
  name: string;
  text: string;
  /** Whether js-yaml's data is used (true) or the fast parser gives up (false). */
  fast: boolean;
  /** The report lines; none for a valid spec. */
  report?: string[];
  /** For a valid spec, something to check on it. */
  check?: (s: Extract<ReturnType<typeof loadSpec>, { ok: true }>["spec"]) => void;
}

const CASES: Case[] = [
  { name: "a plain spec", text: spec(), fast: true },
  {
    name: "comments, quoted strings, a flow sequence, CRLF line ends, a byte order mark",
    text: `\ufeff# porthole\r\n${spec({
      hubExtra: "  subnet: '10.8.0.0/24' # the default\n",
      fwdExtra: '    allowFrom: ["198.51.100.0/24", 203.0.113.0/25]  # two\n',
    }).replaceAll("\n", "\r\n")}`,
    fast: true,
    check: (s) => assert.equal(s.forwards[0]?.allowFrom.length, 2),
  },
  {
    name: "YAML 1.2 core schema: yes/no/on/off are strings",
    text: spec({ hubExtra: "  mesh: yes\n" }),
    fast: true,
    report: ['porthole.yaml:6:3 hub.mesh: "yes" is not accepted; expected true or false'],
  },
  {
    name: "YAML 1.2 core schema: 0x and 0o are integers, 017 is seventeen",
    text: spec({
      hubExtra: "  mtu: 0x500\n",
      peerExtra: "    keepalive: 017\n",
      fwdExtra: "    targetPort: 0o17620\n",
    }),
    fast: true,
    check: (s) => {
      assert.equal(s.hub.mtu, 1280);
      assert.equal(s.peers[0]?.keepalive, 17);
      assert.equal(s.forwards[0]?.targetPort.from, 8080);
    },
  },
  {
    name: "YAML 1.2 core schema: 0b11, 1_000 and +0x10 are text; .inf is a number",
    text: spec({ hubExtra: "  mtu: 1_400\n  sshPort: .inf\n", peerExtra: "    keepalive: 0b11\n" }),
    fast: true,
    report: [
      'porthole.yaml:6:3 hub.mtu: "1_400" is not accepted; expected a whole number',
      "porthole.yaml:7:3 hub.sshPort: Infinity is not accepted; expected a whole number",
      'porthole.yaml:11:5 peers[0].keepalive: "0b11" is not accepted; expected a whole number',
    ],
  },
  {
    name: "a null or an empty value",
    text: spec({ hubExtra: "  mesh: ~\n  mtu:\n" }),
    fast: false,
    report: [
      "porthole.yaml:6:3 hub.mesh: null is not accepted; expected true or false",
      "porthole.yaml:7:3 hub.mtu: null is not accepted; expected a whole number",
    ],
  },
  {
    name: "a duplicate key",
    text: spec({ peerExtra: "    name: pi\n" }),
    fast: false,
    report: ["porthole.yaml:9:5 (document): YAML syntax: Map keys must be unique"],
  },
  {
    name: "a duplicate key, once quoted",
    text: spec({ peerExtra: '    "name": pi\n' }),
    fast: false,
    report: ["porthole.yaml:9:5 (document): YAML syntax: Map keys must be unique"],
  },
  {
    name: "a merge key is a plain (unknown) key, not a merge",
    text: spec({ peerExtra: "    <<: {keepalive: 10}\n" }),
    fast: false, // a flow mapping
    report: [
      'porthole.yaml:9:5 peers[0]["<<"]: unknown field; accepted fields: name, publicKey, address, address6, keepalive, admin, kind',
    ],
  },
  {
    name: "a merge key from an alias is refused too",
    text: spec({
      top: "x-peer: &defaults\n  keepalive: 10\n",
      peerExtra: "    <<: *defaults\n",
    }),
    fast: false,
    report: [
      "porthole.yaml:1:1 x-peer: unknown field; accepted fields: version, hub, peers, forwards",
      'porthole.yaml:11:5 peers[0]["<<"]: unknown field; accepted fields: name, publicKey, address, address6, keepalive, admin, kind',
    ],
  },
  {
    name: "anchors and aliases (the full parser reads them)",
    text: spec({
      fwdExtra:
        "    allowFrom: &lan [198.51.100.0/24]\n  - name: web\n    port: 443\n    peer: rpi\n    allowFrom: *lan\n",
    }),
    fast: false,
    check: (s) => assert.deepEqual(s.forwards[1]?.allowFrom, s.forwards[0]?.allowFrom),
  },
  {
    name: "aliases are bounded (a billion laughs)",
    text: `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
    fast: false,
    report: [
      "porthole.yaml:2:8 (document): YAML: Excessive alias count indicates a resource exhaustion attack",
    ],
  },
  {
    name: "explicit tags (the full parser reads them)",
    text: spec({ fwdExtra: "    targetPort: !!str 8080\n" }),
    fast: false,
    check: (s) => assert.equal(s.forwards[0]?.targetPort.from, 8080),
  },
  {
    // Found by the random test below: js-yaml read the empty tagged node as null, the full parser as "".
    name: "a tagged empty document ended by `...` (any tag sends the text to the full parser)",
    text: "!!str \r\n...\n",
    fast: false,
  },
  {
    name: "a %YAML 1.1 directive is the full parser's business",
    text: `%YAML 1.1\n---\n${spec({ hubExtra: "  mesh: no\n" })}`,
    fast: false,
    check: (s) => assert.equal(s.hub.mesh, false),
  },
  {
    name: "two documents",
    text: `${spec()}---\n${spec()}`,
    fast: false,
    report: [
      "porthole.yaml:13:1 (document): a second YAML document starts here; a spec is a single document, so remove it or merge it into the first",
    ],
  },
  {
    name: "a flow sequence as a key (js-yaml would make it the key `name`)",
    text: spec().replace("  - name: rpi", "  - [name]: rpi"),
    fast: false,
    report: [
      "porthole.yaml:7:5 peers[0].name: is required",
      'porthole.yaml:7:5 peers[0]["[ name ]"]: unknown field; accepted fields: name, publicKey, address, address6, keepalive, admin, kind',
      'porthole.yaml:12:5 forwards[0].peer: "rpi" is not a peer in this spec; known peers: none defined',
    ],
  },
  {
    name: "an explicit key",
    text: spec().replace("  - name: rpi", "  - ? name\n    : rpi"),
    fast: false,
  },
  {
    name: "a comment glued to a quoted value",
    text: spec().replace("endpoint: 203.0.113.42", 'endpoint: "203.0.113.42"#vps'),
    fast: false,
    report: [
      "porthole.yaml:3:27 (document): YAML syntax: Comments must be separated from other tokens by white space characters",
    ],
  },
  {
    name: "a tab in the indentation",
    text: spec().replace("  listenPort", "\tlistenPort"),
    fast: false,
    report: [
      "porthole.yaml:4:1 (document): YAML syntax: Tabs are not allowed as indentation",
      "porthole.yaml:4:14 (document): YAML syntax: Nested mappings are not allowed in compact mappings",
      "porthole.yaml:4:14 (document): YAML syntax: Implicit keys need to be on a single line",
    ],
  },
  {
    // `yaml` refuses this one (`#` without a space after it, indented less than the value), js-yaml
    // takes it: the fast parser leaves values below their key to the full parser.
    name: "a value on the line below its key, after a comment less indented than the key",
    text: spec().replace("  listenPort: 42069", "  listenPort:\n#WireGuard\n    42069"),
    fast: false,
    report: ["porthole.yaml:6:5 (document): YAML syntax: Implicit keys need to be on a single line"],
  },
  {
    name: "a multi-line value",
    text: spec().replace("  endpoint: 203.0.113.42", '  endpoint: "203.0.\n    113.42"'),
    fast: false,
    report: [
      'porthole.yaml:3:3 hub.endpoint: "203.0. 113.42" is not a host name or IP address (with an optional :port)',
    ],
  },
  {
    name: "an empty file",
    text: "",
    fast: true,
    report: [
      "porthole.yaml (document): the file is empty; a spec needs at least a hub section with endpoint and publicKey",
    ],
  },
  {
    name: "only comments and a document start",
    text: "# porthole.yaml\n---\n# nothing yet\n",
    fast: true,
    report: [
      "porthole.yaml (document): the file is empty; a spec needs at least a hub section with endpoint and publicKey",
    ],
  },
];

describe("fast path and full parser agree on tricky inputs", () => {
  for (const c of CASES) {
    test(c.name, () => {
      assert.equal(
        parseFast(c.text) !== undefined,
        c.fast,
        c.fast ? "fast path taken" : "fast path gives up",
      );
      const r = loadSpec(c.text, "porthole.yaml");
      assert.deepStrictEqual(r, full(c.text));
      if (r.ok) {
        assert.equal(c.report, undefined, "the spec should be invalid");
        c.check?.(r.spec);
      } else if (c.report) assert.deepEqual(r.report.split("\n"), c.report);
    });
  }
});

test("the benchmark's spec takes the fast path", () => {
  const text = bigSpecYaml({ peers: 20, forwards: 200, ipv6: true });
  assert.ok(parseFast(text), "fast path taken");
  assert.deepStrictEqual(loadSpec(text), full(text));
});

// Plain scalars: js-yaml resolves them with the `yaml` package's core schema rules, exactly.
const SCALARS = [
  ...["~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE", "false", "yes", "no", "on", "off"],
  ...["y", "n", "0", "-0", "+0", "007", "017", "08", "+12", "-12", "0x1f", "0X1F", "-0x10", "0o17", "0o8"],
  ...["0b101", "1_000", "1,000", "12:30", "12:30:00", "2001-12-14", "1.5", "-1.5", ".5", "+.5", "5.", "1e3"],
  ...[
    "1E3",
    "1e",
    "1.5e-3",
    "-.5E+2",
    ".inf",
    "-.inf",
    "+.Inf",
    ".INF",
    ".nan",
    ".NaN",
    ".NAN",
    "nan",
    "inf",
  ],
  ...["9007199254740993", "1e400", "0x", "0o", "+", ".", "-.", "1.2.3", "10.8.0.0/24", "fd00::1", "80-90"],
];

test("plain scalars resolve alike (YAML 1.2 core schema)", () => {
  for (const s of SCALARS) {
    const text = `v: ${s}\n`;
    const expected = parseDocument(text).toJS().v;
    const value = plainScalar(s);
    assert.deepStrictEqual(typeof value === "symbol" ? s : value, expected, s);
    // The fast parser gives up on a null (never valid in a spec), and takes the others.
    assert.deepStrictEqual(parseFast(text)?.data, expected === null ? undefined : { v: expected }, s);
  }
});

// Random YAML-ish text: whenever the fast parser takes a text, the full parser reads the same data
// without an error.
const tokens = fc.constantFrom(
  ...["a:", "b: ", "- ", ": ", "\n", "\n  ", "\n    ", "{", "}", "[", "]", ", ", "? ", "&a ", "*a", "!!str "],
  ...["<<: ", "|\n  ", ">-\n  ", "|+\n  ", "---\n", "...\n", "%YAML 1.1\n", '"x\\ny"', "'y''z'", "~", "null"],
  ...["0x10", "0o7", "017", "1e3", ".nan", "+1", "-0", "1_0", "yes", "#c", " #c", "\t", "'", '"', "\\", "\r"],
  ...["\r\n", "\ufeff", "\u00a0", "\u2028", "\u0085"],
);
const yamlish = fc
  .array(fc.oneof({ weight: 3, arbitrary: tokens }, { weight: 1, arbitrary: fc.string({ maxLength: 4 }) }), {
    maxLength: 30,
  })
  .map((xs) => xs.join(""));

test("random YAML: when the fast parser takes a text, the full parser reads the same data", () => {
  let taken = 0;
  fc.assert(
    fc.property(yamlish, (text) => {
      const fast = parseFast(text);
      if (!fast) return;
      taken++;
      const doc = parseDocument(text, { uniqueKeys: true, logLevel: "error" });
      assert.deepEqual(
        doc.errors.map((e) => e.message),
        [],
      );
      assert.deepStrictEqual(fast.data, doc.toJS() ?? null);
    }),
    { numRuns: 4000, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
  );
  assert.ok(taken > 200, `the fast parser took only ${taken} texts`);
});
