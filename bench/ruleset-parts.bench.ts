// Benchmark: what each part of the hub's ruleset costs per new connection (issue 13 §2). One lab whose
// tunnel is a plain veth named wg0 (no wireguard-go: the firewall's share of the per-connection cost is
// as large as it gets), one forward, and the hub's data plane switched between variants, one part
// removed at a time from the ruleset porthole compiles (loaded with `nft -f`, as apply does):
//   full          porthole's table as compiled (publicInterface: ens3, snatPool 240.0.0.0/8 as `hub init`
//                 writes it: each client SNAT'd to its own pool address)
//   full-again    full once more (A/A control: its spread is the noise's)
//   -pool         without hub.snatPool (every client SNAT'd to the hub's tunnel address)
//   auto          publicInterface: auto (`iifname != wg0 fib daddr type local` instead of `iifname ens3`)
//   +gate         with the allow-list gate chain (a filter prerouting chain every packet enters), which a
//                 table has only when some forward has allowFrom: here another one's
//   -opened       without counting new connections (the DNAT rules' opened_tcp/opened_udp lookups)
//   dnatCounter   new connections counted in the dnat map's elements instead (porthole before opened_*)
//   -traffic      without the forward chain's traffic counting and open-connection marks (the vmap jump)
//   -marks        without the open-connection marks alone (the traffic counting stays)
//   established   packets of a DNAT'd flow from the SYN-ACK on counted, marked and accepted first, in one
//                 rule of a chain per protocol reached by one status test and a verdict map (established())
//   flat          established() without verdict maps: the forward chain's first rule counts, marks and
//                 accepts an established TCP packet without SYN, FIN or RST (flat())
//   hot           packets already marked open (no SYN, FIN or RST) counted and accepted by one rule per
//                 protocol first in the forward chain (HOT); hot-late: the same after the enrollment drop
//                 and the MSS clamp
//   fwd-empty     the forward chain without rules (its hook alone); fwd-mss, fwd-count, fwd-strict: with
//                 only the MSS clamp, only the counting jump, only the strict gotos
//   -mss          without the MSS clamp
//   -elemCounter  traffic_* without element counters (the lookup stays: what the counting costs)
//   -enrolling    without the forward chain's enrollment drop
//   -strict       without the strict forward chains (no into_tunnel/out_of_tunnel: forward accepts all)
//   +random       SNAT with fully-random (a random source port for every connection; porthole's
//                 table keeps the client's port when it is free)
//   -input        without the input chain
//   minimal       one nft verdict map for DNAT and one SNAT rule: nothing else
//   -filter       porthole's NAT chains alone (no input, forward or strict chains)
//   minimal+filter  the minimal map's NAT with porthole's filter chains: the filter side alone
//   seed          the seed's hand-written iptables lines (DNAT, SNAT, strict FORWARD), no nft table
// Rounds: every variant once per round, in an order that rotates and reverses each round; wrk
// `-t2 -c64 -H "Connection: close"` for DURATION s from the client to the forward; conntrack flushed in the
// hub and the peer before each run. Each variant's ratio is taken against the `full` run of the same
// round; the table gives the median ratio and its min–max over rounds, and the median rate.
//
//   node --import tsx bench/ruleset-parts.bench.ts [--rounds 5] [--duration 2] [--only +random,minimal] [--paired] [--dump DIR]
//     [--base established] [--profile]
//
// --profile: instead of rates, each variant's rule evaluation as a share of the forwarding CPU (perf).
// --paired: two labs, loaded at the same time, `full` in one and a variant in the other (swapped each
// round): both meet the same background load, so a pair's ratio is the rulesets' alone. Under a fair
// scheduler two saturating loads share the CPUs, and the cheaper ruleset per connection gets more of them.
//
// Needs root, wrk, conntrack. Builds its own lab (unique name), removes it at the end, also on failure.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compile } from "../src/compile/compile.ts";
import { renderNft } from "../src/compile/nft-text.ts";
import { run } from "../src/host/run.ts";
import { createWorld } from "../src/lab/create.ts";
import type { LabHost } from "../src/lab/state.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import { DEFAULTS } from "../src/spec/defaults.ts";
import { loadSpec } from "../src/spec/load.ts";
import {
  benchLabName,
  buildServer,
  cliArgs,
  labBenchSpec,
  machineNote,
  markdownTable,
  median,
  requireLabMachine,
  vethTunnel,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const args = cliArgs();
const rounds = args.number("--rounds", 5, 1, 50);
const duration = args.number("--duration", 2, 1, 30);
const only = process.argv.includes("--only")
  ? process.argv[process.argv.indexOf("--only") + 1]?.split(",")
  : null;
const paired = process.argv.includes("--paired");
const profile = process.argv.includes("--profile");
const command = ["node --import tsx bench/ruleset-parts.bench.ts", ...process.argv.slice(2)].join(" ");
const PORT = 8000;

/** The nft script porthole compiles for a hub with one forward (8000 -> rpi:8000, snat). */
async function compiled(publicInterface: string, pool = true, gated = false): Promise<string> {
  const key = async () => {
    const priv = (await run(["wg", "genkey"])).stdout;
    return (await run(["wg", "pubkey"], { input: priv })).stdout.trim();
  };
  const text = labBenchSpec(
    await key(),
    await key(),
    "nftables",
    [{ name: "measured", port: PORT, targetPort: PORT }],
    pool ? { snatPool: DEFAULTS.snatPool } : {},
  )
    // Another forward, allow-listed: the table then has the gate chain every internet packet enters.
    .concat(
      gated
        ? "  - { name: office, port: 8100, peer: rpi, targetPort: 8100, allowFrom: [192.0.2.0/24] }\n"
        : "",
    )
    .replace("publicInterface: ens3", `publicInterface: ${publicInterface}`);
  const loaded = loadSpec(text, "bench.yaml");
  if (!loaded.ok) throw new Error(loaded.report);
  const nft = compile(loaded.spec, "hub").firewall.nft;
  if (!nft) throw new Error("the hub's plan has no nft table");
  return renderNft(nft);
}

/** The script without the lines matching re (each must match at least one line). */
/** SCRIPT with its snat rules drawing a random source port (fully-random) for every connection. */
function withRandomPorts(script: string): string {
  return script.replace(/(snat ip6? to \S+)$/gm, "$1 fully-random");
}

function without(script: string, ...res: RegExp[]): string {
  let lines = script.split("\n");
  for (const re of res) {
    const kept = lines.filter((l) => !re.test(l));
    if (kept.length === lines.length) throw new Error(`no line matches ${re}`);
    lines = kept;
  }
  return lines.join("\n");
}

/** The script with each `th dport @opened_PROTO` lookup of the DNAT rules removed. */
function withoutOpened(script: string): string {
  const out = script.replace(/ th dport @opened_(tcp|udp)/g, "");
  if (out === script) throw new Error("no DNAT rule counts in opened_*");
  return out;
}

/** The ruleset before opened_*: one DNAT rule for both protocols, counting in the dnat map's elements. */
function dnatCounter(script: string): string {
  const out = without(withoutOpened(script), /meta l4proto udp dnat/)
    .replace(/meta l4proto tcp dnat/g, "meta l4proto { tcp, udp } dnat")
    .replace(/(\tmap dnat4 \{\n\t\ttype [^\n]*)/, "$1\n\t\tcounter");
  if (!/\tmap dnat4 \{\n\t\ttype [^\n]*\n\t\tcounter/.test(out)) throw new Error("no map dnat4");
  return out;
}

/** SCRIPT with traffic_* declared without `counter` (the lookup alone, nothing counted). */
function withoutElementCounters(script: string): string {
  const out = script.replace(/(\tset traffic_(tcp|udp) \{\n\t\ttype inet_service\n)\t\tcounter\n/g, "$1");
  if (out === script) throw new Error("no counter in traffic_*");
  return out;
}

const MINIMAL = `table inet porthole {}
delete table inet porthole
table inet porthole {
\tmap dnat4 {
\t\ttype inet_service : ipv4_addr . inet_service
\t\telements = { ${PORT} : 10.8.0.2 . ${PORT} }
\t}
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname "ens3" meta l4proto tcp dnat ip to tcp dport map @dnat4
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "wg0" ct status dnat snat ip to 10.8.0.1
\t}
}
`;

/** The seed's lines (the blog post's DNAT, SNAT and strict FORWARD rules) for the one port. */
const SEED = [
  `-t nat -A PREROUTING -i ens3 -p tcp --dport ${PORT} -j DNAT --to-destination 10.8.0.2:${PORT}`,
  `-t nat -A POSTROUTING -o wg0 -p tcp -d 10.8.0.2 --dport ${PORT} -j SNAT --to-source 10.8.0.1`,
  `-A FORWARD -i ens3 -o wg0 -d 10.8.0.2 -p tcp --dport ${PORT} -m conntrack --ctstate NEW -j ACCEPT`,
  "-A FORWARD -i ens3 -o wg0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
  "-A FORWARD -i wg0 -o ens3 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
].map((l) => l.split(" "));

/** The block (set, map or chain) of SCRIPT whose first line is HEAD, through its closing brace. */
function block(script: string, head: string): string {
  const lines = script.split("\n");
  const at = lines.indexOf(head);
  const end = lines.findIndex((l, i) => i > at && l === "\t}");
  if (at < 0 || end < 0) throw new Error(`no block ${head.trim()}`);
  return lines.slice(at, end + 1).join("\n");
}

/** The filter chains of SCRIPT (input, forward and what forward jumps to): from chain input to the end. */
function filterChains(script: string): string {
  const at = script.indexOf("\tchain input {");
  if (at < 0) throw new Error("no chain input");
  return script.slice(at).replace(/\}\n*$/, "");
}

/** SCRIPT without its filter chains: the NAT side alone. */
const withoutFilter = (script: string) => `${script.slice(0, script.indexOf("\tchain input {"))}}\n`;

/** The minimal map's NAT and porthole's filter chains (with the sets they look up): the filter side alone. */
function minimalWithFilter(script: string): string {
  const sets = ["targets4", "traffic_tcp", "traffic_udp", "enrolling"].map((n) =>
    block(script, `\tset ${n} {`),
  );
  return MINIMAL.replace(/\}\n$/, `${sets.join("\n")}\n${filterChains(script)}}\n`);
}

/** SCRIPT without the open-connection marks (the counting stays). */
function withoutMarks(script: string): string {
  return without(script.replace(/ ct mark set ct mark \| 0x[0-9a-f]+ accept/g, " accept"), /ct mark set/);
}

/** The forward chain's line matching AFTER, then RULES inserted below it (each a rule's text). */
function withForwardRules(script: string, after: RegExp, rules: string[]): string {
  const lines = script.split("\n");
  const start = lines.indexOf("\tchain forward {");
  const at = lines.findIndex((l, i) => i > start && after.test(l));
  if (start < 0 || at < 0) throw new Error(`no forward chain line matches ${after}`);
  lines.splice(at + 1, 0, ...rules.map((r) => `\t\t${r}`));
  return lines.join("\n");
}

/** SCRIPT with the forward chain's rules replaced by RULES (the chains it jumped to stay declared). */
function withForwardChain(script: string, rules: string[]): string {
  const head = "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n";
  const old = block(script, "\tchain forward {");
  if (!old.startsWith(head)) throw new Error("chain forward has another hook line");
  return script.replace(old, `${head}${rules.map((r) => `\t\t${r}\n`).join("")}\t}`);
}

/** The forward chain's rule of SCRIPT that matches RE. */
function forwardRule(script: string, re: RegExp): string {
  const r = block(script, "\tchain forward {")
    .split("\n")
    .find((l) => re.test(l));
  if (!r) throw new Error(`no forward rule matches ${re}`);
  return r.trim();
}

/**
 * Established packets of an open forwarded connection (its established mark set; no SYN, FIN or RST)
 * counted and accepted by one rule per protocol.
 */
const HOT = [
  "ct state established ct mark & 0x00000200 != 0 meta l4proto tcp tcp flags & (syn | fin | rst) == 0 ct original proto-dst @traffic_tcp accept",
  "meta l4proto udp ct state established ct mark & 0x00000200 != 0 ct original proto-dst @traffic_udp accept",
];

/**
 * SCRIPT with every packet of a DNAT'd flow whose reply was seen (the SYN-ACK on) sent first, by one
 * status test and a verdict map, to a chain per protocol whose one rule counts it, sets the
 * open-connection mark and accepts it; the SYN keeps the whole chain. Each lookup is its rule's last
 * match, so a packet counts where it is accepted; a flow to a port not in traffic_* returns.
 */
function established(script: string): string {
  const dispatch =
    "ct status & (seen-reply | dnat) == seen-reply | dnat meta l4proto vmap { tcp : jump established_tcp, udp : jump established_udp }";
  const chains = `\tchain established_tcp {
\t\ttcp flags & (syn | fin | rst) == 0 ct original proto-dst @traffic_tcp ct mark set ct mark | 0x00000200 accept
\t\toifname "wg0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
\t\ttcp flags & (fin | rst) == 0 ct original proto-dst @traffic_tcp accept
\t\tmeta l4proto tcp ct original proto-dst @traffic_tcp ct mark set ct mark | 0x00000400 accept
\t}
\tchain established_udp {
\t\tmeta l4proto udp ct original proto-dst @traffic_udp ct mark set ct mark | 0x00000200 accept
\t}
`;
  return withForwardRules(script, /type filter hook forward/, [dispatch]).replace(/\}\n*$/, `${chains}}\n`);
}

/**
 * established() without the verdict maps: an established TCP packet without SYN, FIN or RST is
 * counted, marked and accepted by the forward chain's first rule (one set lookup in all); one with
 * them jumps to established_tcp; UDP's rule is the chain's second.
 */
function flat(script: string): string {
  const seen = "ct status & (seen-reply | dnat) == seen-reply | dnat";
  const rules = [
    `${seen} tcp flags & (syn | fin | rst) == 0 ct original proto-dst @traffic_tcp ct mark set ct mark | 0x00000200 accept`,
    `${seen} meta l4proto udp ct original proto-dst @traffic_udp ct mark set ct mark | 0x00000200 accept`,
    `${seen} meta l4proto tcp jump established_tcp`,
  ];
  const chains = `\tchain established_tcp {
\t\toifname "wg0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
\t\ttcp flags & (fin | rst) == 0 ct original proto-dst @traffic_tcp accept
\t\tmeta l4proto tcp ct original proto-dst @traffic_tcp ct mark set ct mark | 0x00000400 accept
\t}
`;
  return withForwardRules(script, /type filter hook forward/, rules).replace(/\}\n*$/, `${chains}}\n`);
}

type Variant = { name: string; nft: string } | { name: string; iptables: string[][] };

requireLabMachine(["wrk", "conntrack"]);
const full = await compiled("ens3");
const allVariants: Variant[] = [
  { name: "full", nft: full },
  // The same table again: its ratio to full is what the noise alone does (an A/A control).
  { name: "full-again", nft: full },
  { name: "-pool", nft: await compiled("ens3", false) },
  { name: "auto", nft: await compiled("auto") },
  { name: "+gate", nft: await compiled("ens3", true, true) },
  { name: "-opened", nft: withoutOpened(full) },
  { name: "dnatCounter", nft: dnatCounter(full) },
  { name: "-traffic", nft: without(full, /vmap \{ tcp : jump (forwarded|established)_tcp/) },
  { name: "-marks", nft: withoutMarks(full) },
  { name: "established", nft: established(full) },
  { name: "flat", nft: flat(full) },
  { name: "hot", nft: withForwardRules(full, /type filter hook forward/, HOT) },
  { name: "hot-late", nft: withForwardRules(full, /maxseg size set/, HOT) },
  { name: "fwd-empty", nft: withForwardChain(full, []) },
  { name: "fwd-mss", nft: withForwardChain(full, [forwardRule(full, /maxseg/)]) },
  { name: "fwd-count", nft: withForwardChain(full, [forwardRule(full, /vmap/)]) },
  {
    name: "fwd-strict",
    nft: withForwardChain(full, [
      forwardRule(full, /goto into_tunnel/),
      forwardRule(full, /goto out_of_tunnel/),
    ]),
  },
  { name: "-mss", nft: without(full, /maxseg size set/) },
  { name: "-elemCounter", nft: withoutElementCounters(full) },
  { name: "-enrolling", nft: without(full, /iifname "wg0" ip saddr @enrolling drop/) },
  { name: "-strict", nft: without(full, /goto into_tunnel/, /goto out_of_tunnel/) },
  { name: "+random", nft: withRandomPorts(await compiled("ens3", false)) },
  { name: "-input", nft: full.replace(block(full, "\tchain input {"), "") },
  { name: "minimal", nft: MINIMAL },
  { name: "-filter", nft: withoutFilter(full) },
  { name: "minimal+filter", nft: minimalWithFilter(full) },
  { name: "seed", iptables: SEED },
];
// --base NAME: the variant every other one is paired with and divided by (default full); `again` is
// that base once more (its A/A control).
const baseName = process.argv.includes("--base") ? process.argv[process.argv.indexOf("--base") + 1] : "full";
const baseVariant = allVariants.find((v) => v.name === baseName);
if (!baseVariant) {
  console.error(`--base ${baseName}: give one of ${allVariants.map((v) => v.name).join(", ")}`);
  process.exit(2);
}
allVariants.push({ ...baseVariant, name: "again" });
const variants = [
  baseVariant,
  ...allVariants.filter((v) => v !== baseVariant && (only ? only.includes(v.name) : v.name !== "again")),
];
const unknown = (only ?? []).filter((n) => !allVariants.some((v) => v.name === n));
if (unknown.length) {
  console.error(
    `--only: ${unknown.join(", ")} not accepted; give some of ${allVariants.map((v) => v.name).join(", ")}`,
  );
  process.exit(2);
}
// --dump DIR: the variants' nft scripts written to DIR, nothing run (to read or check them by hand).
const dump = process.argv.includes("--dump") ? process.argv[process.argv.indexOf("--dump") + 1] : undefined;
if (dump) {
  await mkdir(dump, { recursive: true });
  for (const v of variants) if ("nft" in v) await writeFile(join(dump, `${v.name}.nft`), v.nft);
  console.log(`wrote ${variants.filter((v) => "nft" in v).length} scripts to ${dump}`);
  process.exit(0);
}
const errors = new Map<string, string[]>(variants.map((v) => [v.name, []]));
const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const ratios = new Map<string, number[]>(variants.map((v) => [v.name, []]));

/** One lab with the veth tunnel, the peer's server and its directory of variant scripts. */
interface Bed {
  world: World;
  dir: string;
}

async function bed(name: string): Promise<Bed> {
  console.error(`building lab ${name} (veth tunnel)...`);
  const world = await createWorld(name);
  await vethTunnel(world);
  const dir = join(world.dir, "bench");
  await mkdir(dir, { recursive: true });
  const server = await world.spawn("peer", [...(await buildServer(dir)), String(PORT)], {
    label: "fast-http",
  });
  await waitForLog(world, server.log, "listening");
  await world.exec("client", [
    ...["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", "net.ipv4.tcp_tw_reuse=1"],
  ]);
  for (const v of variants) if ("nft" in v) await writeFile(join(dir, `${v.name}.nft`), v.nft);
  return { world, dir };
}

/** Puts variant V in the bed's hub (and nothing else of the others), then checks the forward answers. */
async function install({ world, dir }: Bed, v: Variant): Promise<void> {
  const hub = (argv: string[]) => world.exec("hub", argv, { allowFail: true });
  await hub(["iptables", "-w", "-t", "nat", "-F"]);
  await hub(["iptables", "-w", "-F", "FORWARD"]);
  if ("nft" in v) {
    const r = await world.exec("hub", ["nft", "-f", join(dir, `${v.name}.nft`)], { allowFail: true });
    if (r.code) throw new Error(`${v.name}: nft -f failed: ${r.stderr}`);
  } else {
    await hub(["nft", "delete", "table", "inet", "porthole"]);
    for (const rule of v.iptables) await world.exec("hub", ["iptables", "-w", ...rule]);
  }
  const r = await world.exec("client", ["curl", "-sS", "-m", "5", `http://${LAB.hubPublic}:${PORT}/`], {
    allowFail: true,
  });
  if (r.stdout.trim() !== "ok") throw new Error(`${v.name}: no answer through the forward: ${r.stderr}`);
}

const record = (r: number, v: Variant, { rate, errs }: { rate: number; errs: string }) => {
  if (errs) errors.get(v.name)?.push(`round ${r + 1}: ${errs}`);
  if (Number.isFinite(rate)) rates.get(v.name)?.push(rate);
  console.error(`round ${r + 1} ${v.name.padEnd(13)} ${Math.round(rate)} conn/s${errs ? ` (${errs})` : ""}`);
};

const [fullVariant] = variants as [Variant];
if (profile) {
  // Each variant under load in one lab, `perf record -a` for 5 s, then the samples of the lab's client
  // and peer processes (the packets' softirq work runs in their context on a veth path) summed by
  // symbol: the rule evaluation's share (nft_*, xt_*) of that CPU, which the rate cannot resolve.
  const name = benchLabName("rsf");
  await withLabs([name], async () => {
    const b = await bed(name);
    const out = join(b.dir, "perf.data");
    for (let r = 0; r < rounds; r++)
      for (const v of variants) {
        await install(b, v);
        const load = wrk(b.world, 8);
        await new Promise((res) => setTimeout(res, 2000));
        // wrk runs now: its process is the client's.
        const pids: string[] = [];
        for (const h of ["client", "peer"] as LabHost[])
          pids.push(...(await run(["ip", "netns", "pids", b.world.netns(h)])).stdout.trim().split("\n"));
        await run(["perf", "record", "-a", "-q", "-o", out, "--", "sleep", "5"], { timeoutMs: 60_000 });
        await load;
        const rep = await run(
          [
            "perf",
            "report",
            "-i",
            out,
            "--no-children",
            `--pid=${pids.join(",")}`,
            "--sort",
            "symbol",
            "--stdio",
            "-n",
          ],
          { timeoutMs: 120_000 },
        );
        let all = 0;
        let rules = 0;
        for (const m of rep.stdout.matchAll(/^\s+[\d.]+%\s+(\d+)\s+\[k\]\s+(\S+)/gm)) {
          all += Number(m[1]);
          if (/^(__)?(nft_|xt_|conntrack_mt)/.test(m[2] as string)) rules += Number(m[1]);
        }
        const share = rules / all;
        ratios.get(v.name)?.push(share * 100);
        console.error(
          `round ${r + 1} ${v.name.padEnd(13)} rules ${(share * 100).toFixed(1)} % of ${all} samples`,
        );
      }
  });
  console.log(`
### Rule evaluation's share of the forwarding CPU (veth tunnel, 1 forward)

\`${command}\` — per variant and round: wrk -t2 -c64 -H "Connection: close" for 8 s, \`perf record -a\` 5 s of
it; the kernel samples of the lab's client and peer processes (where the forwarded packets' softirq work
runs), the share in nft_*/xt_* symbols. ${await machineNote()}

${markdownTable(
  ["variant", "rule evaluation, % of the samples: median (min–max)"],
  variants.map((v) => {
    const xs = ratios.get(v.name) ?? [];
    return [v.name, `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`];
  }),
)}
`);
  process.exit(0);
}
if (paired) {
  // Two labs under load at the same time: `full` in one, the other variant in the other (swapped every
  // round), so both runs of a pair meet the same background load and the ratio is theirs alone.
  const names = [benchLabName("rsa"), benchLabName("rsb")];
  await withLabs(names, async () => {
    const beds = [await bed(names[0] as string), await bed(names[1] as string)] as [Bed, Bed];
    for (let r = 0; r < rounds; r++) {
      for (const [k, v] of variants.slice(1).entries()) {
        // Which lab runs full swaps every round, and which of the two starts first every other pair:
        // an A/A run (full-again) read ~1.2 with full always started first.
        const [a, b] = r % 2 ? [beds[1], beds[0]] : beds;
        const fullFirst = (Math.floor(r / 2) + k) % 2 === 0;
        const pair: [Bed, Variant][] = fullFirst
          ? [
              [a, fullVariant],
              [b, v],
            ]
          : [
              [b, v],
              [a, fullVariant],
            ];
        await Promise.all(pair.map(([bd, vv]) => install(bd, vv)));
        await Promise.all(pair.map(([bd]) => wrk(bd.world, 1))); // warm-up
        await Promise.all(pair.map(([bd]) => flush(bd.world)));
        const got = await Promise.all(pair.map(([bd]) => rateOf(bd.world)));
        const [x, y] = (fullFirst ? got : [got[1], got[0]]) as [Rate, Rate];
        record(r, fullVariant, x);
        record(r, v, y);
        if (Number.isFinite(y.rate / x.rate)) {
          ratios.get(v.name)?.push(y.rate / x.rate);
          ratios.get(fullVariant.name)?.push(1);
        }
      }
    }
  });
} else {
  const name = benchLabName("rsp");
  await withLabs([name], async () => {
    const b = await bed(name);
    for (let r = 0; r < rounds; r++) {
      const shift = r % variants.length;
      let order = [...variants.slice(shift), ...variants.slice(0, shift)];
      if (r % 2) order = order.reverse();
      const got = new Map<string, number>();
      for (const v of order) {
        await install(b, v);
        await wrk(b.world, 1); // warm-up
        const res = await load(b.world);
        record(r, v, res);
        got.set(v.name, res.rate);
      }
      const base = got.get(baseVariant.name) as number;
      for (const [k, x] of got) if (Number.isFinite(x / base)) ratios.get(k)?.push(x / base);
    }
  });
}

const f2 = (x: number) => x.toFixed(2);
const quartiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (s.length - 1) * p;
    const lo = s[Math.floor(i)] as number;
    return lo + ((s[Math.ceil(i)] as number) - lo) * (i - Math.floor(i));
  };
  return `${f2(q(0.25))}–${f2(q(0.75))}`;
};
const how = paired
  ? `${rounds} rounds; \`full\` and each variant loaded at the same time in two labs (which lab has which swaps every
round), wrk -t2 -c64 -H "Connection: close", ${duration} s per run. Ratio: the variant's rate / \`full\`'s in the same
pair (> 1: the variant is cheaper per connection)`
  : `${rounds} rounds, every variant once per round (order rotating and reversing); wrk -t2 -c64
-H "Connection: close", ${duration} s per run. Ratio: the variant's rate / \`full\`'s in the same round
(> 1: the removed part cost that much)`;
console.log(`
### What each part of the hub's ruleset costs per new connection (veth tunnel, 1 forward)

\`${command}\` — ${how}. ${await machineNote()}

${markdownTable(
  ["variant", "median rate", `ratio to ${baseVariant.name}: median (middle half; min–max)`],
  variants.map((v) => {
    const rs = ratios.get(v.name) ?? [];
    return [
      v.name,
      `${Math.round(median(rates.get(v.name) ?? [])).toLocaleString("en-US")}/s`,
      `${f2(median(rs))} (${quartiles(rs)}; ${f2(Math.min(...rs))}–${f2(Math.max(...rs))})`,
    ];
  }),
)}
${[...errors]
  .filter(([, e]) => e.length)
  .map(([k, e]) => `- ${k}: wrk ${e.join("; ")}`)
  .join("\n")}
`);

function wrk(world: World, seconds: number) {
  return world.exec(
    "client",
    ["wrk", "-t2", "-c64", `-d${seconds}s`, "-H", "Connection: close", `http://${LAB.hubPublic}:${PORT}/`],
    { timeoutMs: (seconds + 30) * 1000, allowFail: true },
  );
}

type Rate = { rate: number; errs: string };

/** Conntrack flushed in the hub and the peer, then the rate (rateOf). */
async function load(world: World): Promise<Rate> {
  await flush(world);
  return rateOf(world);
}

async function flush(world: World): Promise<void> {
  for (const h of ["hub", "peer"] as LabHost[])
    await world.exec(h, ["conntrack", "-D", "-p", "tcp"], { allowFail: true });
}

/** New connections/s through the forward for DURATION s; a failed run is NaN with wrk's words. */
async function rateOf(world: World): Promise<Rate> {
  const r = await wrk(world, duration);
  const out = r.stdout;
  const rate = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  // A failed run (the server refused: a connection-refused burst) is reported, not counted.
  if (!rate) return { rate: Number.NaN, errs: `no rate: ${r.stderr.trim() || out.trim()}` };
  return { rate, errs: /Socket errors:[^\n]*/.exec(out)?.[0] ?? "" };
}
