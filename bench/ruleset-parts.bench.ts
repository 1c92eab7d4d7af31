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
//   -mss          without the MSS clamp
//   -strict       without the strict forward chains (no into_tunnel/out_of_tunnel: forward accepts all)
//   +random       SNAT with fully-random (a random source port for every connection; porthole's
//                 table keeps the client's port when it is free)
//   minimal       one nft verdict map for DNAT and one SNAT rule: nothing else
//   seed          the seed's hand-written iptables lines (DNAT, SNAT, strict FORWARD), no nft table
// Rounds: every variant once per round, in an order that rotates and reverses each round; wrk
// `-t2 -c64 -H "Connection: close"` for DURATION s from the client to the forward; conntrack flushed in the
// hub and the peer before each run. Each variant's ratio is taken against the `full` run of the same
// round; the table gives the median ratio and its min–max over rounds, and the median rate.
//
//   node --import tsx bench/ruleset-parts.bench.ts [--rounds 5] [--duration 2] [--only +random,minimal] [--paired]
//
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
  { name: "-traffic", nft: without(full, /vmap \{ tcp : jump forwarded_tcp/) },
  { name: "-marks", nft: without(full, /ct mark set/) },
  { name: "-mss", nft: without(full, /maxseg size set/) },
  { name: "-strict", nft: without(full, /goto into_tunnel/, /goto out_of_tunnel/) },
  { name: "+random", nft: withRandomPorts(await compiled("ens3", false)) },
  { name: "minimal", nft: MINIMAL },
  { name: "seed", iptables: SEED },
];
const variants = allVariants.filter((v) => !only || v.name === "full" || only.includes(v.name));
const unknown = (only ?? []).filter((n) => !allVariants.some((v) => v.name === n));
if (unknown.length) {
  console.error(
    `--only: ${unknown.join(", ")} not accepted; give some of ${allVariants.map((v) => v.name).join(", ")}`,
  );
  process.exit(2);
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
if (paired) {
  // Two labs under load at the same time: `full` in one, the other variant in the other (swapped every
  // round), so both runs of a pair meet the same background load and the ratio is theirs alone.
  const names = [benchLabName("ra"), benchLabName("rb")];
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
  const name = benchLabName("rp");
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
      const base = got.get("full") as number;
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
  ["variant", "median rate", "ratio to full: median (middle half; min–max)"],
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
