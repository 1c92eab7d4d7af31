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
import { markNft, markNftDelta, parseMarkerSet } from "../../src/host/firewall.ts";
import { marker } from "../../src/reconcile/firewall.ts";
import {
  mapKey,
  type NftElementChange,
  nftDelta,
  nftElementChanges,
  parseNftCollections,
} from "../../src/reconcile/nft-delta.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { compileCase, goldenCases } from "./helpers/golden.ts";
import { inNetns, needTools } from "./helpers/tools.ts";

function hubNft(yaml: string): string {
  const r = loadSpec(yaml);
  assert.ok(r.ok, r.ok ? "" : r.report);
  const nft = compile(r.spec, "hub").firewall.nft;
  assert.ok(nft);
  return nft;
}

/** Applies changes to parsed collections the way nft does (map deletes by key). */
function applyChanges(
  collections: Map<string, { kind: "set" | "map"; elements: string[] }>,
  changes: NftElementChange[],
): Map<string, Set<string>> {
  const out = new Map([...collections].map(([n, c]) => [n, new Set(c.elements)]));
  for (const c of changes) {
    const s = out.get(c.name) as Set<string>;
    for (const r of c.remove) {
      const hits = [...s].filter((e) => (c.kind === "map" ? mapKey(e) === r : e === r));
      assert.equal(hits.length, 1, `delete ${r} from ${c.name}: must match exactly one element`);
      s.delete(hits[0] as string);
    }
  }
  for (const c of changes) {
    const s = out.get(c.name) as Set<string>;
    for (const a of c.add) {
      assert.ok(!s.has(a), `add ${a} to ${c.name}: already there`);
      if (c.kind === "map") assert.ok(![...s].some((e) => mapKey(e) === mapKey(a)), `key of ${a} taken`);
      s.add(a);
    }
  }
  return out;
}

const asSets = (c: Map<string, { elements: string[] }>) =>
  new Map([...c].map(([n, x]) => [n, new Set(x.elements)]));

test("every golden ruleset parses, and its skeleton plus elements is the whole script", () => {
  for (const name of goldenCases()) {
    for (const [host, plan] of Object.entries(compileCase(name))) {
      const nft = plan.firewall.nft;
      if (!nft) continue;
      const p = parseNftCollections(nft);
      assert.ok(p, `${name}/${host}`);
      const elements = [...p.collections.values()].reduce((n, c) => n + c.elements.length, 0);
      const elementLines = nft.split("\n").filter((l) => /^\t\t\t/.test(l)).length;
      assert.equal(elements, elementLines, `${name}/${host}: every element line is an element`);
      assert.deepEqual(nftDelta(nft, nft), "", `${name}/${host}: no change, empty delta`);
    }
  }
});

test("a rule or set-definition change is not an element delta", () => {
  const a = hubNft(bigSpecYaml({ peers: 5, forwards: 30 }));
  assert.equal(nftDelta(a, a.replace("policy accept;", "policy drop;")), null);
  assert.equal(nftDelta(a, a.replace("flags interval", "flags interval, timeout")), null);
  // Going from no v6 to v6 adds sets and rules.
  assert.equal(nftDelta(a, hubNft(bigSpecYaml({ peers: 5, forwards: 30, ipv6: true }))), null);
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
  assert.ok(byName.allow4?.remove.some((e) => e.endsWith(" . 203.0.113.0/25")));
  assert.ok(byName.allow4?.add.some((e) => e.endsWith(" . 203.0.113.128/25")));
  assert.ok(byName.allow6?.add.some((e) => e.endsWith(" . 2001:db9::/32")));
  // A map element whose value changed: deleted by key, added with the new value.
  for (const m of [byName.dnat4, byName.dnat6]) {
    assert.ok(m && m.kind === "map");
    for (const r of m.remove) assert.ok(!r.includes(" : "), `map delete by key: ${r}`);
  }
  const delta = nftDelta(a, b) as string;
  assert.match(delta, /^delete element inet porthole dnat6 \{ [^\n]*\}$/m);
  assert.match(delta, /^add element inet porthole dnat6 \{ [^\n]* : fd00:8::[0-9a-f]+ \. \d+[^\n]*\}$/m);
  // Deletes come first: a map key that changed value is deleted before it is added again.
  const lines = delta.trimEnd().split("\n");
  const firstAdd = lines.findIndex((l) => l.startsWith("add "));
  assert.ok(lines.slice(firstAdd).every((l) => l.startsWith("add ")));
  const pa = parseNftCollections(a);
  const pb = parseNftCollections(b);
  assert.ok(pa && pb);
  assert.deepEqual(applyChanges(pa.collections, changes), asSets(pb.collections));
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
      if (!changes) return; // e.g. a set became empty or not: skeleton changed, full load
      const pa = parseNftCollections(a);
      const pb = parseNftCollections(b);
      assert.ok(pa && pb);
      assert.deepEqual(applyChanges(pa.collections, changes), asSets(pb.collections));
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
  const a = hubNft(aYaml);
  const b = hubNft(bYaml);
  const delta = nftDelta(a, b);
  assert.ok(delta);
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
  const script = (set: string[], map: string[]) => {
    const block = (xs: string[]) =>
      xs.length ? ["\t\telements = {", ...xs.map((e) => `\t\t\t${e},`), "\t\t}"] : [];
    return [
      "table inet porthole {",
      "\tset allow4 {",
      "\t\ttype inet_proto . inet_service . ipv4_addr",
      "\t\tflags interval",
      ...block(set),
      "\t}",
      "\tmap dnat6 {",
      "\t\ttype inet_proto . inet_service : ipv6_addr . inet_service",
      ...block(map),
      "\t}",
      "}",
      "",
    ].join("\n");
  };
  const setElement = fc
    .tuple(fc.constantFrom("tcp", "udp"), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 30 }))
    .map(([p, port, n]) => `${p} . ${port} . 10.${n}.0.0/16`);
  const mapEntry = fc
    .tuple(fc.constantFrom("tcp", "udp"), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }))
    .map(([p, port, h]) => `${p} . ${port} : fd00::${h} . ${port}`);
  const lists = fc.record({
    set: fc.uniqueArray(setElement, { maxLength: 30 }),
    map: fc.uniqueArray(mapEntry, { maxLength: 30, selector: (e) => mapKey(e) }),
  });
  fc.assert(
    fc.property(lists, lists, fc.boolean(), (x, y, share) => {
      // Often: y is x with a few changes, keeping most of the order.
      const set = share
        ? [...x.set.slice(0, 5), ...y.set.filter((e) => !x.set.includes(e)), ...x.set.slice(-3)]
        : y.set;
      // y.map last: a key in both keeps its place and takes y's value (a changed map value).
      const map = share ? [...x.map.slice(0, 4), ...y.map] : y.map;
      const a = script(x.set, x.map);
      const b = script([...new Set(set)], [...new Map(map.map((e) => [mapKey(e), e])).values()]);
      const changes = nftElementChanges(a, b);
      assert.ok(changes, "only elements differ");
      const pa = parseNftCollections(a);
      const pb = parseNftCollections(b);
      assert.ok(pa && pb);
      assert.deepEqual(applyChanges(pa.collections, changes), asSets(pb.collections));
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
