// Host.firewall.observe (one look, fewer processes: the hub's watch every 2 s) must answer exactly what
// observeNft, observeIptables and observeForeign answer one by one, in every state porthole's drift
// repair must see: no table, a table without marker, marked, patched, porthole's iptables chains and
// hooks (iptables-nft, either family, and legacy), another owner's nft table and iptables FORWARD.
import assert from "node:assert/strict";
import { test } from "node:test";
import { markNft, markNftDelta } from "../../src/host/firewall.ts";
import { mainTableDsts } from "../../src/host/wireguard.ts";
import { inNetns, needTools } from "./helpers/tools.ts";

test("porthole's routes are the main table's of `ip route show table all` (both families, host routes as /32 and /128)", () => {
  const listing = JSON.stringify([
    { dst: "240.0.0.0/8", scope: "link", flags: [] },
    { dst: "10.9.0.7", scope: "link", flags: [] },
    { dst: "fd00:8::/64", table: "7", metric: 1024, flags: [] },
    { dst: "10.99.0.0/24", table: "100", scope: "link", flags: [] },
    { dst: "fd00:9::/64", metric: 1024, flags: [] },
    { dst: "fd00::5", table: "main", metric: 1024, flags: [] },
  ]);
  assert.deepEqual(mainTableDsts(listing), ["240.0.0.0/8", "10.9.0.7/32", "fd00:9::/64", "fd00::5/128"]);
  assert.deepEqual(mainTableDsts("[]"), []);
});

test("firewall: one look answers what the three reads answer, in every state drift repair must see", (t) => {
  if (!needTools(t, ["nft", "iptables", "ip6tables", "iptables-legacy", "unshare"], { netns: true })) return;
  const driver = new URL("../../src/host/firewall.ts", import.meta.url).href;
  const marked = markNft(
    "table inet porthole {\n\tchain forward {\n\t\ttype filter hook forward priority 0;\n\t}\n}\n",
    "0123456789abcdef",
  );
  // Each step changes the namespace's firewalls, then both ways of reading it are compared.
  const steps: [string, string[][]][] = [
    ["no table", []],
    ["a table without marker", [["nft-file", "table inet porthole {\n\tchain c {\n\t}\n}\n"]]],
    [
      "marked",
      [
        ["nft", "delete table inet porthole"],
        ["nft-file", marked],
      ],
    ],
    ["patched", [["nft-file", markNftDelta("", "fedcba9876543210", [1])]]],
    [
      "another owner's nft table dropping forwarded traffic",
      [
        [
          "nft-file",
          "table inet fw {\n\tchain fw_forward {\n\t\ttype filter hook forward priority 0; policy drop;\n\t}\n}\n",
        ],
      ],
    ],
    [
      "iptables-nft: porthole's chain and hook (IPv4)",
      [
        ["iptables", "-t", "nat", "-N", "PORTHOLE-PREROUTING"],
        [
          "iptables",
          "-t",
          "nat",
          "-A",
          "PORTHOLE-PREROUTING",
          "-m",
          "comment",
          "--comment",
          "porthole:1111111111111111",
        ],
        ["iptables", "-t", "nat", "-I", "PREROUTING", "-j", "PORTHOLE-PREROUTING"],
      ],
    ],
    ["iptables-nft: Docker-like FORWARD policy drop", [["iptables", "-P", "FORWARD", "DROP"]]],
    [
      "ip6tables-nft: porthole's chain (IPv6)",
      [
        ["ip6tables", "-N", "PORTHOLE-FORWARD"],
        ["ip6tables", "-A", "PORTHOLE-FORWARD", "-m", "comment", "--comment", "porthole:2222222222222222"],
        ["ip6tables", "-I", "FORWARD", "-j", "PORTHOLE-FORWARD"],
      ],
    ],
    ["the table flushed", [["nft", "flush table inet porthole"]]],
    ["nft flush ruleset", [["nft", "flush ruleset"]]],
    [
      "iptables-legacy: porthole's chain and hook",
      [
        ["iptables-legacy", "-N", "PORTHOLE-FORWARD"],
        [
          "iptables-legacy",
          "-A",
          "PORTHOLE-FORWARD",
          "-m",
          "comment",
          "--comment",
          "porthole:3333333333333333",
        ],
        ["iptables-legacy", "-I", "FORWARD", "-j", "PORTHOLE-FORWARD"],
        ["iptables-legacy", "-P", "FORWARD", "DROP"],
      ],
    ],
  ];
  const script = `import { firewallDriver as fw } from ${JSON.stringify(driver)};
import { execFileSync } from "node:child_process";
const steps = ${JSON.stringify(steps)};
const out = [];
for (const [name, cmds] of steps) {
  for (const [cmd, ...args] of cmds) {
    if (cmd === "nft-file") execFileSync("nft", ["-f", "-"], { input: args[0] });
    else execFileSync(cmd, args);
  }
  const one = await fw.observe();
  const three = { nft: await fw.observeNft(), iptables: await fw.observeIptables(), foreign: await fw.observeForeign() };
  out.push({ name, one, three });
}
console.log(JSON.stringify(out));`;
  const r = inNetns(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script]);
  assert.equal(r.status, 0, r.output);
  const looks = JSON.parse(r.output.trim().split("\n").pop() as string) as {
    name: string;
    one: Record<string, unknown>;
    three: Record<string, unknown>;
  }[];
  assert.equal(looks.length, steps.length);
  // iptables-save stamps its text with the second it ran: the reads, moments apart, may differ there.
  const unstamped = (x: unknown) =>
    JSON.parse(JSON.stringify(x).replace(/ on [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4}/g, ""));
  for (const l of looks) assert.deepEqual(unstamped(l.one), unstamped(l.three), l.name);
  // The states were what they say (the comparison alone would pass on two blind readers).
  const by = new Map(
    looks.map((l) => [
      l.name,
      l.three as {
        nft: unknown;
        iptables: { iptables: unknown; hooks: unknown[] };
        foreign: { nft: unknown[]; xtables: unknown[] };
      },
    ]),
  );
  assert.equal(by.get("no table")?.nft, null);
  assert.deepEqual(by.get("a table without marker")?.nft, { marker: "unmarked", generations: [] });
  assert.deepEqual(by.get("patched")?.nft, { marker: "fedcba9876543210", generations: [1, 2] });
  assert.ok((by.get("another owner's nft table dropping forwarded traffic")?.foreign.nft.length ?? 0) > 0);
  assert.deepEqual(by.get("iptables-nft: porthole's chain and hook (IPv4)")?.iptables.iptables, {
    4: "1111111111111111",
    6: null,
  });
  assert.deepEqual(by.get("ip6tables-nft: porthole's chain (IPv6)")?.iptables.iptables, {
    4: "1111111111111111",
    6: "2222222222222222",
  });
  assert.equal(by.get("nft flush ruleset")?.nft, null);
  assert.deepEqual(by.get("nft flush ruleset")?.iptables, { iptables: { 4: null, 6: null }, hooks: [] });
  // Plain iptables is iptables-nft here: the legacy chain is not porthole's to read, but the legacy
  // FORWARD's drop is another owner's (read because the kernel holds a legacy table).
  const legacy = by.get("iptables-legacy: porthole's chain and hook")?.foreign.xtables as {
    flavour: string;
  }[];
  assert.ok(legacy.some((x) => x.flavour === "legacy"));
});
