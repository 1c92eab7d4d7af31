// Every rendered firewall file is accepted by the real tools: `nft -c -f`, `iptables-restore --test`,
// `ip6tables-restore --test`, and then loaded for real, hooks included, into a throwaway network
// namespace (`unshare --net`), which catches what the checks alone miss (an unknown chain, a target in
// the wrong table). Nothing touches the machine's own rules.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { bigSpecYaml } from "../../bench/spec-gen.ts";
import { compile } from "../../src/compile/compile.ts";
import { renderFiles } from "../../src/compile/render.ts";
import { nftRuleItems } from "../../src/host/firewall.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { nftRuleCount } from "../../src/plan/nft.ts";
import type { HostPlan } from "../../src/plan/plan.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { compileCase, goldenCases } from "./helpers/golden.ts";
import { inNetns, needTools, which } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "porthole-fw-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tempFile = (name: string, text: string) => {
  const path = join(dir, `${n++}-${name}`);
  writeFileSync(path, text);
  return path;
};

const ok = (r: { status: number | null; output: string }, what: string) =>
  assert.equal(r.status, 0, `${what} failed:\n${r.output}`);

function checkNft(t: import("node:test").TestContext, text: string, label: string) {
  if (!needTools(t, ["nft", "unshare"], { netns: true })) return;
  const file = tempFile("porthole.nft", text);
  ok(inNetns("nft", ["-c", "-f", file]), `nft -c -f (${label})`);
  // Loaded twice in one namespace: the script replaces the table, so a second apply must work too.
  const nft = which("nft") as string;
  ok(
    inNetns("sh", [
      "-ec",
      '"$1" -f "$2"; "$1" -f "$2"; "$1" list table inet porthole >/dev/null',
      "sh",
      nft,
      file,
    ]),
    `nft -f twice (${label})`,
  );
  // The rules the kernel holds are the ones the text declares (doctor counts them: a flushed chain);
  // terse, the 10,000-forward table's elements are not listed.
  const listed = inNetns("sh", ["-ec", '"$1" -f "$2"; "$1" -t -j list ruleset', "sh", nft, file]);
  ok(listed, `nft -t -j list ruleset (${label})`);
  assert.equal(nftRuleItems(listed.output), nftRuleCount(text), `rules (${label})`);
}

function checkIptables(
  t: import("node:test").TestContext,
  family: 4 | 6,
  text: string,
  hooks: HostPlan["firewall"]["hooks"],
  label: string,
) {
  const bin = family === 4 ? "iptables" : "ip6tables";
  if (!needTools(t, [`${bin}-restore`, bin, "unshare"], { netns: true })) return;
  const file = tempFile(`porthole.${bin}`, text);
  ok(inNetns(`${bin}-restore`, ["--test", file]), `${bin}-restore --test (${label})`);
  // The legacy backend checks more in --test (e.g. unknown chains); use it too when it is installed.
  const legacy = which(`${bin}-legacy-restore`);
  if (legacy) ok(inNetns(legacy, ["--test", file]), `${bin}-legacy-restore --test (${label})`);
  // A real load, as `porthole apply` does it: restore with --noflush, then hook the chains in, twice.
  const jumps = hooks.filter((h) => h.family === family).flatMap((h) => [h.table, h.chain, h.target]);
  assert.ok(jumps.length > 0, "an iptables ruleset comes with hooks");
  const script = [
    'r="$1"; b="$2"; f="$3"; shift 3',
    '"$r" --noflush "$f"',
    '"$r" --noflush "$f"',
    'while [ $# -gt 0 ]; do "$b" -w -t "$1" -I "$2" -j "$3"; shift 3; done',
  ].join("\n");
  ok(
    inNetns("sh", [
      "-ec",
      script,
      "sh",
      which(`${bin}-restore`) as string,
      which(bin) as string,
      file,
      ...jumps,
    ]),
    `${bin}-restore --noflush + hooks (${label})`,
  );
}

function checkPlan(t: import("node:test").TestContext, plan: HostPlan, file: string, label: string) {
  const files = renderFiles(plan);
  const text = files[file] as string;
  if (file === "porthole.nft") checkNft(t, text, label);
  else checkIptables(t, file === "porthole.iptables" ? 4 : 6, text, plan.firewall.hooks, label);
}

const FIREWALL_FILES = ["porthole.nft", "porthole.iptables", "porthole.ip6tables"];

describe("rendered firewall files pass the real tools", () => {
  let count = 0;
  for (const name of goldenCases()) {
    for (const [host, plan] of Object.entries(compileCase(name))) {
      for (const file of Object.keys(renderFiles(plan)).filter((f) => FIREWALL_FILES.includes(f))) {
        count++;
        test(`${name}/${host}/${file}`, (t) => checkPlan(t, plan, file, `${name}/${host}`));
      }
    }
  }
  test("the golden cases include nft, iptables and ip6tables files", () => {
    assert.ok(count >= 10, `only ${count} firewall files in the golden cases`);
  });

  const big = (firewall: "nftables" | "iptables", forwards: number) => {
    const r = loadSpec(bigSpecYaml({ peers: 250, forwards, firewall, ipv6: true }));
    assert.ok(r.ok, r.ok ? "" : r.report);
    return compile(r.spec, "hub");
  };
  test("a hub with 250 peers and 10,000 forwards (nftables, dual-stack)", (t) => {
    checkPlan(t, big("nftables", 10_000), "porthole.nft", "big nft");
  });
  test("a hub with 250 peers and 1,000 forwards (iptables, dual-stack)", (t) => {
    const plan = big("iptables", 1_000);
    checkPlan(t, plan, "porthole.iptables", "big iptables");
    checkPlan(t, plan, "porthole.ip6tables", "big ip6tables");
  });
});

test("an allow-list with nested and repeated prefixes loads (nft's interval set refuses overlapping elements), as the outer prefixes", (t) => {
  const r = loadSpec(`hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(generatePrivateKey())}
  subnet6: fd00:8::/64
peers:
  - { name: rpi, publicKey: "${publicKeyOf(generatePrivateKey())}", address: 10.8.0.2 }
forwards:
  - name: office
    port: 8206
    peer: rpi
    allowFrom: [192.0.2.0/24, 192.0.2.1, 192.0.2.128/25, 192.0.2.0/24, 198.51.100.7, "2001:db8::/32", "2001:db8::1"]
`);
  assert.ok(r.ok, r.ok ? "" : r.report);
  const text = renderFiles(compile(r.spec, "hub"))["porthole.nft"] as string;
  const allow = /set allow4 \{[^}]*elements = \{([^}]*)\}/.exec(text)?.[1]?.replace(/\s+/g, " ").trim();
  assert.equal(allow?.replace(/,$/, ""), "tcp . 8206 . 192.0.2.0/24, tcp . 8206 . 198.51.100.7/32");
  const allow6 = /set allow6 \{[^}]*elements = \{([^}]*)\}/.exec(text)?.[1]?.replace(/\s+/g, " ").trim();
  assert.equal(allow6?.replace(/,$/, ""), "tcp . 8206 . 2001:db8::/32");
  checkNft(t, text, "nested allow-list");
});

describe("the checks themselves catch mistakes", () => {
  test("nft rejects a broken ruleset", (t) => {
    if (!needTools(t, ["nft", "unshare"], { netns: true })) return;
    const file = tempFile("bad.nft", "table inet porthole {\n\tchain x {\n\t\tbogus statement\n\t}\n}\n");
    assert.notEqual(inNetns("nft", ["-c", "-f", file]).status, 0);
  });
  test("a real iptables load rejects a jump to a chain that does not exist", (t) => {
    if (!needTools(t, ["iptables-restore", "unshare"], { netns: true })) return;
    const file = tempFile(
      "bad.iptables",
      "*filter\n:PORTHOLE-X - [0:0]\n-A PORTHOLE-X -j PORTHOLE-NOPE\nCOMMIT\n",
    );
    assert.notEqual(inNetns("iptables-restore", ["--noflush", file]).status, 0);
  });
});
