// The element delta for table inet porthole (src/reconcile/nft-delta.ts): exact on every element
// syntax porthole emits, and, loaded by the real nft into a throwaway namespace, it leaves the kernel
// holding what a full load of the new ruleset would.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { bigSpecYaml } from "../../bench/spec-gen.ts";
import { compile } from "../../src/compile/compile.ts";
import { renderNft, renderNftChanges } from "../../src/compile/nft-text.ts";
import { markNft, markNftDelta, parseMarkerSet } from "../../src/host/firewall.ts";
import type { NftCollection, NftElementChange, NftPlan } from "../../src/plan/nft.ts";
import { marker } from "../../src/reconcile/firewall.ts";
import { diffNftTable, nftElementChanges } from "../../src/reconcile/nft-delta.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { compileCase, goldenCases } from "./helpers/golden.ts";
import { inNetns, needTools } from "./helpers/tools.ts";

function hubNft(yaml: string): NftPlan {
  const r = loadSpec(yaml);
  assert.ok(r.ok, r.ok ? "" : r.report);
  const nft = compile(r.spec, "hub").firewall.nft;
  assert.ok(nft);
  return nft;
}

/** Each collection's elements as nft writes them ("key : value" for maps), as a set. */
const asSets = (p: NftPlan) =>
  new Map(
    p.collections.map((c) => [
      c.name,
      new Set(c.kind === "map" ? c.elements.map(([k, v]) => `${k} : ${v}`) : c.elements),
    ]),
  );

/** Applies changes to a plan's elements the way nft does (map deletes by key). */
function applyChanges(p: NftPlan, changes: NftElementChange[]): Map<string, Set<string>> {
  const out = asSets(p);
  const key = (e: string) => e.split(" : ")[0];
  for (const c of changes) {
    const s = out.get(c.name) as Set<string>;
    for (const r of c.remove) {
      const hits = [...s].filter((e) => (c.kind === "map" ? key(e) === r : e === r));
      assert.equal(hits.length, 1, `delete ${r} from ${c.name}: must match exactly one element`);
      s.delete(hits[0] as string);
    }
  }
  for (const c of changes) {
    const s = out.get(c.name) as Set<string>;
    for (const a of c.add) {
      const e = typeof a === "string" ? a : `${a[0]} : ${a[1]}`;
      assert.ok(!s.has(e), `add ${e} to ${c.name}: already there`);
      if (c.kind === "map") assert.ok(![...s].some((x) => key(x) === key(e)), `key of ${e} taken`);
      s.add(e);
    }
  }
  return out;
}

/** The diff as the kernel would see it: it holds `have`'s rendered ruleset, porthole loaded `previous` last. */
const mark = (p: NftPlan) => ({ plan: p, marker: marker(renderNft(p)) });
const diff = (want: NftPlan, have: NftPlan | null, previous: NftPlan | null) =>
  diffNftTable(
    mark(want),
    have ? { marker: mark(have).marker, generations: [1] } : null,
    previous ? mark(previous) : null,
  );

const small = (): NftPlan => ({
  collections: [
    {
      kind: "map",
      name: "dnat4",
      type: "inet_proto . inet_service : ipv4_addr . inet_service",
      flags: ["counter"],
      elements: [
        ["tcp . 80", "10.8.0.2 . 8080"],
        ["udp . 53", "10.8.0.3 . 53"],
      ],
    },
    {
      kind: "set",
      name: "targets4",
      type: "ipv4_addr . inet_proto . inet_service",
      flags: [],
      elements: ["10.8.0.2 . tcp . 8080", "10.8.0.3 . udp . 53"],
    },
  ],
  chains: "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}",
});
const withCollection = (p: NftPlan, name: string, f: (c: NftCollection) => NftCollection): NftPlan => ({
  ...p,
  collections: p.collections.map((c) => (c.name === name ? f(c) : c)),
});

test("the diff is a value: none, reload or patch, from the plans' data and the kernel's marker", () => {
  const a = small();
  assert.deepEqual(diff(a, a, a), { kind: "none" }, "the kernel holds the plan");
  assert.deepEqual(diffNftTable(null, null, null), { kind: "none" });
  assert.deepEqual(diffNftTable(null, { marker: "x", generations: [1] }, null), { kind: "remove" });
  assert.equal(diff(a, null, a).kind, "reload", "no table: load it whole");
  assert.equal(diff(a, small(), null).kind, "none", "same data, other objects: same marker");

  // An element added (map and set), removed, and a map value changed: a patch of just those.
  const added = withCollection(
    withCollection(
      a,
      "dnat4",
      (c) =>
        ({
          ...c,
          elements: [...(c.elements as [string, string][]), ["tcp . 443", "10.8.0.2 . 8443"]],
        }) as NftCollection,
    ),
    "targets4",
    (c) => ({ ...c, elements: [...(c.elements as string[]), "10.8.0.2 . tcp . 8443"] }) as NftCollection,
  );
  assert.deepEqual(diff(added, a, a), {
    kind: "patch",
    changes: [
      { kind: "map", name: "dnat4", remove: [], add: [["tcp . 443", "10.8.0.2 . 8443"]] },
      { kind: "set", name: "targets4", remove: [], add: ["10.8.0.2 . tcp . 8443"] },
    ],
  });
  assert.deepEqual(diff(a, added, added), {
    kind: "patch",
    changes: [
      { kind: "map", name: "dnat4", remove: ["tcp . 443"], add: [] },
      { kind: "set", name: "targets4", remove: ["10.8.0.2 . tcp . 8443"], add: [] },
    ],
  });
  const moved = withCollection(
    a,
    "dnat4",
    (c) =>
      ({
        ...c,
        elements: [
          ["tcp . 80", "10.8.0.9 . 8080"],
          ["udp . 53", "10.8.0.3 . 53"],
        ],
      }) as NftCollection,
  );
  assert.deepEqual(diff(moved, a, a), {
    kind: "patch",
    changes: [{ kind: "map", name: "dnat4", remove: ["tcp . 80"], add: [["tcp . 80", "10.8.0.9 . 8080"]] }],
  });
  // A set emptied stays a patch: its declaration is the same.
  const emptied = withCollection(a, "targets4", (c) => ({ ...c, elements: [] }));
  assert.equal(diff(emptied, a, a).kind, "patch");

  // The skeleton changed: a chain, a set's type or flags, a set added: reload.
  const reload = (want: NftPlan) =>
    assert.deepEqual(diff(want, a, a).kind, "reload", JSON.stringify(want).slice(0, 80));
  reload({ ...a, chains: a.chains.replace("policy accept", "policy drop") });
  reload(withCollection(a, "targets4", (c) => ({ ...c, flags: ["flags interval"] })));
  reload(withCollection(a, "targets4", (c) => ({ ...c, type: "ipv4_addr . inet_service" })));
  reload({
    ...a,
    collections: [
      ...a.collections,
      { kind: "set", name: "enrolling", type: "ipv4_addr", flags: [], elements: [] },
    ],
  });

  // The kernel does not hold what porthole loaded last (another writer, a flush and reload, an older
  // porthole's unmarked table), or porthole knows of no previous ruleset: reload, never a patch.
  assert.deepEqual(diff(added, added, a), { kind: "none" });
  assert.deepEqual(diff(added, moved, a), {
    kind: "reload",
    reason: "the kernel holds another ruleset than porthole loaded last",
  });
  assert.equal(diffNftTable(mark(added), { marker: "unmarked", generations: [] }, mark(a)).kind, "reload");
  assert.deepEqual(diff(added, a, null), { kind: "reload", reason: "no ruleset applied before" });
});

test("every golden ruleset: no change is an empty patch, and the rendered delta of a change is nft commands", () => {
  for (const name of goldenCases()) {
    for (const [host, plan] of Object.entries(compileCase(name))) {
      const nft = plan.firewall.nft;
      if (!nft) continue;
      assert.deepEqual(nftElementChanges(nft, nft), [], `${name}/${host}: no change, no element changes`);
      assert.deepEqual(nftElementChanges(nft, structuredClone(nft)), [], `${name}/${host}: compared as data`);
    }
  }
});

test("a rule or set-definition change is not an element delta", () => {
  const a = hubNft(bigSpecYaml({ peers: 5, forwards: 30 }));
  assert.equal(
    nftElementChanges(a, { ...a, chains: a.chains.replace("policy accept;", "policy drop;") }),
    null,
  );
  const timeout = withCollection(a, "allow4", (c) => ({ ...c, flags: ["flags interval, timeout"] }));
  assert.equal(nftElementChanges(a, timeout), null);
  // Going from no v6 to v6 adds sets and rules.
  assert.equal(nftElementChanges(a, hubNft(bigSpecYaml({ peers: 5, forwards: 30, ipv6: true }))), null);
});

test("the gate chain exists only with an allow-list; the first allowFrom and the last one reload the table", () => {
  const spec = (allow: string) => `version: 1
hub:
  endpoint: 203.0.113.1
  publicKey: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
  publicInterface: ens3
peers:
  - { name: rpi, publicKey: BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=, address: 10.8.0.2 }
forwards:
  - { name: web, port: 80, peer: rpi, targetPort: 8080${allow} }
`;
  const open = hubNft(spec(""));
  const office = hubNft(spec(", allowFrom: [192.0.2.0/24]"));
  assert.doesNotMatch(
    open.chains,
    /chain gate|@restricted/,
    "nothing restricted: no filter hook sees every packet",
  );
  assert.match(office.chains, /chain gate \{\n\t\ttype filter hook prerouting/);
  assert.match(office.chains, /@restricted .* saddr != @allow4 return/, "the output chain checks it too");
  assert.equal(nftElementChanges(open, office), null);
  assert.equal(nftElementChanges(office, open), null);
  const two = hubNft(spec(", allowFrom: [192.0.2.0/24, 198.51.100.0/24]"));
  assert.ok(nftElementChanges(office, two), "a second prefix is an element patch");
});

test("element syntaxes: maps by key, concatenations, interval CIDRs, IPv6", () => {
  const a = hubNft(bigSpecYaml({ peers: 5, forwards: 30, ipv6: true }));
  const bYaml = bigSpecYaml({ peers: 5, forwards: 31, ipv6: true })
    .replace("203.0.113.0/25", "203.0.113.128/25")
    .replace("2001:db8::/32", "2001:db9::/32")
    .replace("    peer: peer-2\n", "    peer: peer-3\n");
  const b = hubNft(bYaml);
  const changes = nftElementChanges(a, b);
  assert.ok(changes);
  const byName = Object.fromEntries(changes.map((c) => [c.name, c]));
  const sets = (c: NftElementChange | undefined) => (c?.kind === "set" ? c : undefined);
  assert.ok(sets(byName.allow4)?.remove.some((e) => e.endsWith(" . 203.0.113.0/25")));
  assert.ok(sets(byName.allow4)?.add.some((e) => e.endsWith(" . 203.0.113.128/25")));
  assert.ok(sets(byName.allow6)?.add.some((e) => e.endsWith(" . 2001:db9::/32")));
  // A map element whose value changed: deleted by key, added with the new value.
  for (const m of [byName.dnat4, byName.dnat6]) {
    assert.ok(m && m.kind === "map");
    for (const r of m.remove) assert.ok(!r.includes(" : "), `map delete by key: ${r}`);
  }
  const delta = renderNftChanges(changes);
  assert.match(delta, /^delete element inet porthole dnat6 \{ [^\n]*\}$/m);
  assert.match(delta, /^add element inet porthole dnat6 \{ [^\n]* : fd00:8::[0-9a-f]+ \. \d+[^\n]*\}$/m);
  // Deletes come first: a map key that changed value is deleted before it is added again.
  const lines = delta.trimEnd().split("\n");
  const firstAdd = lines.findIndex((l) => l.startsWith("add "));
  assert.ok(lines.slice(firstAdd).every((l) => l.startsWith("add ")));
  assert.deepEqual(applyChanges(a, changes), asSets(b));
});

test("a record written before sets travelled as data: its table restores as it was, and reloads once", async () => {
  const { readApplied } = await import("../../src/reconcile/state.ts");
  const { fakeHost } = await import("../support/fake-host.ts");
  const plan = hubNft(bigSpecYaml({ peers: 2, forwards: 3 }));
  const text = renderNft(plan);
  const h = fakeHost();
  const old = {
    host: "hub",
    role: "hub",
    specText: "",
    appliedAt: "",
    wgInterface: "wg0",
    sysctlBefore: {},
    files: [],
  };
  await h.files.write(
    "/s1/applied.json",
    JSON.stringify({
      ...old,
      firewall: { backend: "nftables", nft: text, iptables: { 4: "", 6: "" }, hooks: [] },
    }),
  );
  await h.files.write(
    "/s2/applied.json",
    JSON.stringify({
      ...old,
      firewall: { backend: "iptables", nft: "", iptables: { 4: "*nat\nCOMMIT\n", 6: "" }, hooks: [] },
    }),
  );
  const r1 = await readApplied(h, "/s1");
  const up = r1?.firewall.nft;
  assert.ok(up);
  assert.equal(renderNft(up), text, "the same script, so the same marker: the kernel is known to hold it");
  assert.deepEqual(diff(plan, up, up), { kind: "none" }, "the kernel holds it: nothing to do");
  const next = hubNft(bigSpecYaml({ peers: 2, forwards: 4 }));
  assert.deepEqual(
    diff(next, up, up),
    { kind: "reload", reason: "chains or set declarations changed" },
    "no sets to compare: a change loads the table whole, once",
  );
  assert.equal((await readApplied(h, "/s2"))?.firewall.nft, null);
});

test("property: the delta turns the old elements into the new ones", () => {
  const base = bigSpecYaml({ peers: 7, forwards: 60, ipv6: true });
  const blocks = base.split(/(?=^ {2}- name: fwd-)/m);
  const head = blocks[0] as string;
  const fwds = blocks.slice(1);
  const variant = (keep: boolean[], peerShift: number[], allow: boolean[]) =>
    head +
    fwds
      .filter((_, i) => keep[i])
      .map((f, i) => {
        let g = f.replace(
          /peer: peer-(\d+)/,
          (_m, n) => `peer: peer-${(Number(n) + (peerShift[i] ?? 0)) % 7}`,
        );
        if (allow[i] && !g.includes("allowFrom"))
          g += `    allowFrom: [192.0.2.${(i % 8) * 32}/27, 2001:db8:${i.toString(16)}::/48]\n`;
        return g;
      })
      .join("");
  const arb = fc.record({
    keep: fc.array(fc.boolean(), { minLength: fwds.length, maxLength: fwds.length }),
    shift: fc.array(fc.nat(2), { minLength: fwds.length, maxLength: fwds.length }),
    allow: fc.array(fc.boolean(), { minLength: fwds.length, maxLength: fwds.length }),
  });
  fc.assert(
    fc.property(arb, arb, (x, y) => {
      const a = hubNft(variant(x.keep, x.shift, x.allow));
      const b = hubNft(variant(y.keep, y.shift, y.allow));
      const changes = nftElementChanges(a, b);
      if (!changes) return; // e.g. IPv6 allow-lists appear: a rule changed, full load
      assert.deepEqual(applyChanges(a, changes), asSets(b));
    }),
    { numRuns: 40 },
  );
});

test("nft: a delta (3,000 forwards, IPv4 and IPv6) leaves the kernel where a full load of the new ruleset would", (t) => {
  if (!needTools(t, ["nft", "unshare"], { netns: true })) return;
  const aYaml = bigSpecYaml({ peers: 40, forwards: 3000, ipv6: true });
  const bYaml = bigSpecYaml({ peers: 40, forwards: 3001, ipv6: true })
    .replace("203.0.113.0/25", "203.0.113.128/25")
    .replace("2001:db8::/32", "2001:db9::/32")
    .replace(/^ {2}- name: fwd-2999\n(?: {4}.*\n)+/m, "")
    .replace("    peer: peer-2\n", "    peer: peer-3\n");
  const pa = hubNft(aYaml);
  const pb = hubNft(bYaml);
  const changes = nftElementChanges(pa, pb);
  assert.ok(changes);
  const delta = renderNftChanges(changes);
  const a = renderNft(pa);
  const b = renderNft(pb);
  const dir = mkdtempSync(join(tmpdir(), "porthole-delta-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const out = (name: string) => readFileSync(join(dir, name), "utf8");
  const files = [
    file("a.nft", markNft(a, marker(a))),
    file("delta.nft", markNftDelta(delta, marker(b), [1])),
    file("b.nft", markNft(b, marker(b))),
  ];
  const script = [
    'nft -f "$1"; nft -f "$2"',
    'nft -s list table inet porthole > "$4/patched"; nft list set inet porthole marker > "$4/marker"',
    'nft delete table inet porthole; nft -f "$3"; nft -s list table inet porthole > "$4/full"',
    'nft list set inet porthole marker > "$4/full-marker"',
  ].join("\n");
  const r = inNetns("sh", ["-ec", script, "sh", ...files, dir]);
  assert.equal(r.status, 0, r.output);
  // Hash sets list in an order of their own: compare the elements as sorted lists.
  const norm = (listing: string) =>
    listing.replace(/elements = \{([^}]*)\}/g, (_m, body: string) =>
      body
        .split(",")
        .map((e) => e.trim())
        .sort()
        .join("\n"),
    );
  // The marker set is the one place they differ: a patch adds a generation, a full load starts at 1.
  const withoutMarker = (listing: string) => listing.replace(/\tset marker \{[^}]*\}\n\t\}\n/, "");
  assert.equal(norm(withoutMarker(out("patched"))), norm(withoutMarker(out("full"))));
  // This delta deletes elements, so it also pruned generation 1.
  assert.deepEqual(
    parseMarkerSet(out("marker")),
    { marker: marker(b), generations: [2] },
    "the marker moved with the delta",
  );
  assert.deepEqual(parseMarkerSet(out("full-marker")), { marker: marker(b), generations: [1] });
});

test("the marker: a full load starts at generation 1, a patch adds the next, the highest wins", () => {
  const m = "0123456789abcdef";
  assert.equal(
    markNft("table inet porthole {\n}\n", m),
    `table inet porthole {\n\tset marker {\n\t\ttype mark\n\t\telements = { 1 comment "porthole:${m}" }\n\t}\n}\n`,
  );
  assert.equal(
    markNftDelta("add element inet porthole dnat4 { tcp . 81 : 10.8.0.2 . 81 }\n", m, [1, 2]),
    `add element inet porthole dnat4 { tcp . 81 : 10.8.0.2 . 81 }\ncreate element inet porthole marker { 3 comment "porthole:${m}" }\n`,
  );
  // A patch that deletes anyway also prunes the old generations (it pays for the deletion already).
  assert.match(
    markNftDelta("delete element inet porthole dnat4 { tcp . 81 }\n", m, [1, 2]),
    /\ndelete element inet porthole marker \{ 1, 2 \}\ncreate element inet porthole marker \{ 3 comment/,
  );
  const many = Array.from({ length: 32 }, (_, i) => i + 1);
  assert.match(markNftDelta("", m, many), /^delete element inet porthole marker \{ 1, 2, .*, 32 \}\n/);
  // As `nft list set` prints it: hex keys, several per line, in no particular order.
  const listing = `table inet porthole {\n\tset marker {\n\t\ttype mark\n\t\telements = { 0x0000000a comment "porthole:bbbbbbbbbbbbbbbb",\n\t\t\t     0x00000002 comment "porthole:aaaaaaaaaaaaaaaa" }\n\t}\n}\n`;
  assert.deepEqual(parseMarkerSet(listing), { marker: "bbbbbbbbbbbbbbbb", generations: [2, 10] });
  assert.deepEqual(parseMarkerSet("table inet porthole {\n\tset marker {\n\t\ttype mark\n\t}\n}\n"), {
    marker: "unmarked",
    generations: [],
  });
});

test("property: any two element lists, in any order, with prefixes and suffixes in common", () => {
  const plan = (set: string[], map: [string, string][]): NftPlan => ({
    collections: [
      {
        kind: "set",
        name: "allow4",
        type: "inet_proto . inet_service . ipv4_addr",
        flags: ["flags interval"],
        elements: set,
      },
      {
        kind: "map",
        name: "dnat6",
        type: "inet_proto . inet_service : ipv6_addr . inet_service",
        flags: [],
        elements: map,
      },
    ],
    chains: "",
  });
  const setElement = fc
    .tuple(fc.constantFrom("tcp", "udp"), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 30 }))
    .map(([p, port, n]) => `${p} . ${port} . 10.${n}.0.0/16`);
  const mapEntry = fc
    .tuple(fc.constantFrom("tcp", "udp"), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }))
    .map(([p, port, h]): [string, string] => [`${p} . ${port}`, `fd00::${h} . ${port}`]);
  const lists = fc.record({
    set: fc.uniqueArray(setElement, { maxLength: 30 }),
    map: fc.uniqueArray(mapEntry, { maxLength: 30, selector: (e) => e[0] }),
  });
  fc.assert(
    fc.property(lists, lists, fc.boolean(), (x, y, share) => {
      // Often: y is x with a few changes, keeping most of the order.
      const set = share
        ? [...x.set.slice(0, 5), ...y.set.filter((e) => !x.set.includes(e)), ...x.set.slice(-3)]
        : y.set;
      // y.map last: a key in both keeps its place and takes y's value (a changed map value).
      const map = share ? [...x.map.slice(0, 4), ...y.map] : y.map;
      const a = plan(x.set, x.map);
      const b = plan([...new Set(set)], [...new Map(map).entries()]);
      const changes = nftElementChanges(a, b);
      assert.ok(changes, "only elements differ");
      assert.deepEqual(applyChanges(a, changes), asSets(b));
    }),
    { numRuns: 300 },
  );
});

test("nft: the driver reads the marker back (no table, unmarked, marked, patched); a stale patch changes nothing", (t) => {
  if (!needTools(t, ["nft", "unshare"], { netns: true })) return;
  // The driver itself, run in a scratch network namespace, after each state is set up with nft.
  const driver = new URL("../../src/host/firewall.ts", import.meta.url).href;
  const script = `import { firewallDriver } from ${JSON.stringify(driver)};
import { execFileSync } from "node:child_process";
const nft = (text) => execFileSync("nft", ["-f", "-"], { input: text });
const out = [await firewallDriver.observeNft()];
nft("table inet porthole {\\n\\tchain c {\\n\\t}\\n}\\n");
out.push(await firewallDriver.observeNft());
nft("delete table inet porthole\\n" + ${JSON.stringify(markNft("table inet porthole {\n\tset s {\n\t\ttype inet_service\n\t}\n}\n", "0123456789abcdef"))});
out.push(await firewallDriver.observeNft());
nft(${JSON.stringify(markNftDelta("", "fedcba9876543210", [1]))});
out.push(await firewallDriver.observeNft());
// Another writer patched since generation 1 was seen: generation 2 is taken, the transaction fails whole.
const stale = await firewallDriver.patchNft("add element inet porthole s { 80 }\\n", "1111111111111111", [1]).then(() => "applied", () => "refused");
out.push(stale, await firewallDriver.observeNft(), execFileSync("nft", ["list", "set", "inet", "porthole", "s"], { encoding: "utf8" }).includes("80"));
console.log(JSON.stringify(out));`;
  const r = inNetns(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script]);
  assert.equal(r.status, 0, r.output);
  assert.deepEqual(JSON.parse(r.output.trim().split("\n").pop() as string), [
    null,
    { marker: "unmarked", generations: [] },
    { marker: "0123456789abcdef", generations: [1] },
    { marker: "fedcba9876543210", generations: [1, 2] },
    "refused",
    { marker: "fedcba9876543210", generations: [1, 2] },
    false,
  ]);
});
