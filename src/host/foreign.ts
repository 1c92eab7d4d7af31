// Reads other owners' firewalls (read-only) and keeps porthole's marked accepts in their iptables
// FORWARD chains: nft tables with input/forward base chains, and the filter table of each iptables
// flavour (legacy and nft: Debian ships both, and Docker may use either).
import { readFile } from "node:fs/promises";
import { read } from "./read-batch.ts";
import { run } from "./run.ts";

/** An iptables flavour: Debian ships both (xtables-legacy-multi and xtables-nft-multi). */
export type Flavour = "legacy" | "nft";

/** Other owners' firewalls as read from the host (src/foreign judges them). */
export interface ForeignSnapshot {
  /** Items of `nft -j list table ...` for the foreign tables that have base chains (porthole's own excluded). */
  nft: Record<string, Record<string, unknown>>[];
  /** `iptables-save` / `ip6tables-save` text of each flavour ("" when the flavour holds no table). */
  xtables: { flavour: Flavour; family: 4 | 6; text: string }[];
  /** What plain `iptables` is (porthole's iptables backend writes there); null: not installed. */
  iptables: Flavour | null;
}

/** The comment porthole puts on the accepts it inserts into other owners' chains. */
export const PASS = "porthole-pass";

/** Tables iptables-nft creates (family ip/ip6, classic table name, upper-case built-in chains). */
const XTABLES = new Set(["filter", "nat", "mangle", "raw", "security"]);
const BUILTIN = new Set(["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"]);

/** True for tables porthole must not read as "foreign nftables": its own (and `porthole trace`'s), and iptables-nft's. */
export function skipTable(family: string, name: string, chainNames: string[]): boolean {
  if (family === "inet" && (name === "porthole" || name.startsWith("porthole_trace_"))) return true;
  return (family === "ip" || family === "ip6") && XTABLES.has(name) && chainNames.some((c) => BUILTIN.has(c));
}

/** One iptables flavour and family: where a pass goes. */
export interface PassTarget {
  flavour: Flavour;
  family: 4 | 6;
}

const bin = (t: PassTarget, suffix = "") =>
  `${t.family === 4 ? "iptables" : "ip6tables"}-${t.flavour}${suffix}`;

type Items = ForeignSnapshot["nft"];

/** A chain as `nft -j list chains` describes it (base chains carry type and hook). */
export type NftChain = Record<string, string>;

/** The chains of `nft -j list chains` output. */
export function chainsOf(json: string): NftChain[] {
  return (JSON.parse(json) as { nftables: { chain?: NftChain }[] }).nftables
    .map((i) => i.chain)
    .filter((c): c is NftChain => !!c);
}

/** Every table's chains (`nft -j list chains`: names and hooks, no rules); null when nft failed. */
export async function listChains(): Promise<NftChain[] | null> {
  const r = await read(["nft", "-j", "list", "chains"]);
  return r.code === 0 ? chainsOf(r.stdout) : null;
}

/** nft's foreign tables with a filter base chain on input or forward, whole; and which iptables-nft filter tables exist. */
async function observeNftTables(
  chains: NftChain[] | null,
): Promise<{ items: Items; xtablesNft: Set<4 | 6> }> {
  const xtablesNft = new Set<4 | 6>();
  if (!chains) return { items: [], xtablesNft };
  const byTable = new Map<string, { family: string; name: string; chains: string[]; hooked: boolean }>();
  for (const c of chains) {
    const k = `${c.family} ${c.table}`;
    const t = byTable.get(k) ?? {
      family: c.family as string,
      name: c.table as string,
      chains: [],
      hooked: false,
    };
    t.chains.push(c.name as string);
    if (c.type === "filter" && (c.hook === "input" || c.hook === "forward")) t.hooked = true;
    byTable.set(k, t);
  }
  const wanted = [...byTable.values()].filter((t) => {
    if (
      t.name === "filter" &&
      (t.family === "ip" || t.family === "ip6") &&
      skipTable(t.family, t.name, t.chains)
    )
      xtablesNft.add(t.family === "ip" ? 4 : 6);
    return t.hooked && !skipTable(t.family, t.name, t.chains);
  });
  const listed = await Promise.all(wanted.map((t) => read(["nft", "-j", "list", "table", t.family, t.name])));
  const items = listed.flatMap((l) =>
    l.code === 0 ? (JSON.parse(l.stdout) as { nftables: Items }).nftables : [],
  );
  return { items, xtablesNft };
}

/**
 * The names of the legacy tables the kernel holds now (none: `iptables-legacy-save` prints nothing).
 * Read from /proc, which lists the tables of the reader's network namespace.
 */
export async function legacyTableNames(family: 4 | 6): Promise<string[]> {
  const names = await readFile(`/proc/net/${family === 4 ? "ip" : "ip6"}_tables_names`, "utf8").catch(
    () => "",
  );
  return names.split("\n").filter(Boolean);
}

/**
 * Legacy tables the kernel holds now. Read from /proc: `iptables-legacy-save -t filter` would load the
 * module and create the table, and plain `iptables-legacy-save` prints nothing without it anyway.
 */
export async function legacyTables(family: 4 | 6): Promise<boolean> {
  return (await legacyTableNames(family)).includes("filter");
}

async function save(t: PassTarget): Promise<string> {
  const r = await read([bin(t, "-save")]);
  return r.code === 0 ? r.stdout : "";
}

let flavourOfIptables: Promise<Flavour | null> | undefined;

/** What plain `iptables` is, from `iptables --version` ("(nf_tables)" or "(legacy)"); asked once. */
export function iptablesFlavour(): Promise<Flavour | null> {
  flavourOfIptables ??= run(["iptables", "--version"], { allowFail: true }).then((r) =>
    r.code !== 0 ? null : /nf_tables/.test(r.stdout) ? "nft" : "legacy",
  );
  return flavourOfIptables;
}

/**
 * Other owners' rulesets as the host has them now (each part empty when the tool or table is missing).
 * `chains`: every table's chains as just listed (null: nft failed), when the caller has them.
 */
export async function observeForeign(
  chains: Promise<NftChain[] | null> = listChains(),
): Promise<ForeignSnapshot> {
  const [{ items, xtablesNft }, legacy4, legacy6, iptables] = await Promise.all([
    chains.then(observeNftTables),
    legacyTables(4),
    legacyTables(6),
    iptablesFlavour(),
  ]);
  const targets: PassTarget[] = [
    ...(legacy4 ? [{ flavour: "legacy" as const, family: 4 as const }] : []),
    ...(legacy6 ? [{ flavour: "legacy" as const, family: 6 as const }] : []),
    ...[...xtablesNft].map((family) => ({ flavour: "nft" as const, family })),
  ];
  const texts = await Promise.all(targets.map(save));
  return { nft: items, xtables: targets.map((t, i) => ({ ...t, text: texts[i] ?? "" })), iptables };
}

const passRule = (iface: string, dir: "-i" | "-o") => [
  "FORWARD",
  dir,
  iface,
  "-m",
  "comment",
  "--comment",
  PASS,
  "-j",
  "ACCEPT",
];

/** Inserts ACCEPT for the tunnel, in and out, at the top of FORWARD (each once), marked "porthole-pass". */
export async function addPass(iface: string, t: PassTarget): Promise<void> {
  for (const dir of ["-o", "-i"] as const) {
    const rule = passRule(iface, dir);
    const present = await run([bin(t), "-w", "-C", ...rule], { allowFail: true });
    if (present.code !== 0) await run([bin(t), "-w", "-I", "FORWARD", "1", ...rule.slice(1)]);
  }
}

/** Deletes porthole's marked accepts (in one flavour and family, or everywhere); returns what it deleted. */
export async function removePasses(t?: PassTarget): Promise<string[]> {
  const all: PassTarget[] = t
    ? [t]
    : (["legacy", "nft"] as const).flatMap((flavour) =>
        [4, 6].map((family) => ({ flavour, family }) as PassTarget),
      );
  const removed: string[] = [];
  for (const target of all) {
    if (target.flavour === "legacy" && !(await legacyTables(target.family))) continue;
    for (const line of (await save(target)).split("\n")) {
      if (!line.startsWith("-A ") || !line.includes(PASS)) continue;
      const args = [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string);
      await run([bin(target), "-w", "-D", ...args.slice(1)], { allowFail: true });
      removed.push(`${bin(target)} ${line}`);
    }
  }
  return removed;
}
