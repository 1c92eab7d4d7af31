// nftables and iptables: porthole loads only its own table (inet porthole) or its own PORTHOLE-*
// chains, and marks the ruleset it loaded so the next apply can tell whether anything must change.
import type { IptablesHook } from "../plan/plan.ts";
import {
  addPass,
  legacyTableNames,
  listChains,
  type NftChain,
  observeForeign,
  removePasses,
} from "./foreign.ts";
import { read } from "./read-batch.ts";
import { run } from "./run.ts";
import { nftElementCounters, parseDnatCounters } from "./stats.ts";
import type { Count, FirewallLook, Host, IptablesState, NftState } from "./types.ts";

const MARK_RE = /porthole:([0-9a-f]{8,64})/;
const save = (f: 4 | 6) => (f === 4 ? "iptables-save" : "ip6tables-save");
const tool = (f: 4 | 6) => (f === 4 ? "iptables" : "ip6tables");

/**
 * The nft marker lives in set `marker`: one element per ruleset porthole loaded or patched, keyed by a
 * generation number, its comment the marker; the highest generation is current. An element patch only
 * adds one: a transaction that deletes anything (an element, a rule) makes nft wait for an RCU grace
 * period when it closes its socket (~15 ms, as much as the rest of a one-forward patch). So old
 * generations are pruned only by patches that delete anyway, or once they pile up.
 */
const markerSet = (generation: number, marker: string) =>
  `\tset marker {\n\t\ttype mark\n\t\telements = { ${generation} comment "porthole:${marker}" }\n\t}\n`;
const PRUNE_AT = 32;

/** Puts the marker into the script as set `marker` of table inet porthole (generation 1). */
export function markNft(script: string, marker: string): string {
  return script.replace(/^table inet porthole \{\n/m, `table inet porthole {\n${markerSet(1, marker)}`);
}

/** An element delta (nft commands) plus the next marker generation, as one transaction. */
export function markNftDelta(delta: string, marker: string, generations: number[]): string {
  const next = Math.max(0, ...generations) + 1;
  const prune = /^delete /m.test(delta) || generations.length >= PRUNE_AT ? generations : [];
  return [
    delta.trimEnd(),
    prune.length ? `delete element inet porthole marker { ${prune.join(", ")} }` : "",
    // `create`, not `add`: if another writer took this generation since we looked, the whole
    // transaction fails instead of leaving that writer's marker on this ruleset.
    `create element inet porthole marker { ${next} comment "porthole:${marker}" }`,
  ]
    .filter(Boolean)
    .map((l) => `${l}\n`)
    .join("");
}

/** The marker set as `nft list set inet porthole marker` prints it ("unmarked" when it has no element). */
export function parseMarkerSet(listing: string): NftState {
  let best: NftState = { marker: "unmarked", generations: [] };
  let top = -1;
  const generations: number[] = [];
  for (const m of listing.matchAll(/(0x[0-9a-f]+|\d+) comment "porthole:([0-9a-f]{8,64})"/g)) {
    const g = Number(m[1]);
    generations.push(g);
    if (g > top) {
      top = g;
      best = { marker: m[2] as string, generations };
    }
  }
  return { ...best, generations: generations.sort((a, b) => a - b) };
}

/** Adds a no-op rule carrying the marker to the first chain the text declares. */
export function markIptables(text: string, marker: string): string {
  const chain = /^:(\S+) /m.exec(text)?.[1];
  if (!chain) return text;
  return text.replace(/^COMMIT$/m, `-A ${chain} -m comment --comment "porthole:${marker}"\nCOMMIT`);
}

/** The sets and maps that count (see compile/nftables.ts): their counters outlive a reload. */
const COUNTING = [
  ["set", "opened_tcp"],
  ["set", "opened_udp"],
  ["set", "traffic_tcp"],
  ["set", "traffic_udp"],
] as const;

/**
 * Gives the script's elements the counts the loaded table holds for the same keys
 * (`80 counter packets 5 bytes 300`), so replacing the table does not reset the counters Prometheus
 * reads. `counts` maps a set or map's name to its counters by key ("80", "tcp . 80").
 */
export function carryNftCounters(script: string, counts: Map<string, Map<string, Count>>): string {
  let current: Map<string, Count> | undefined;
  return script
    .split("\n")
    .map((line) => {
      const open = /^\t(?:set|map) (\S+) \{$/.exec(line);
      if (open) current = counts.get(open[1] as string);
      else if (line === "\t}") current = undefined;
      const elem = current && /^\t\t\t(.+),$/.exec(line);
      if (!current || !elem) return line;
      const [key, value] = (elem[1] as string).split(" : ");
      const c = current.get(key as string);
      if (!c || (!c.packets && !c.bytes)) return line;
      const counter = `counter packets ${c.packets} bytes ${c.bytes}`;
      return `\t\t\t${key} ${counter}${value === undefined ? "" : ` : ${value}`},`;
    })
    .join("\n");
}

/** The counters of porthole's counting sets and maps as loaded now (none when there is no table). */
async function loadedNftCounters(): Promise<Map<string, Map<string, Count>>> {
  const lists = await Promise.all(COUNTING.map(([kind, name]) => nftElementCounters(kind, name)));
  return new Map(COUNTING.map(([, name], i) => [name, new Map((lists[i] ?? []).map((c) => [c.key, c]))]));
}

/**
 * Prefixes porthole's DNAT rules with the counts the loaded rules have for the same protocol and
 * port (`[5:300] -A PORTHOLE-PREROUTING ...`), for `iptables-restore --counters`.
 */
export function carryIptablesCounters(text: string, counts: Map<string, Count>): string {
  return text.replace(
    /^-A PORTHOLE-PREROUTING .*?-p (tcp|udp) .*?--dport (\d+) .*-j DNAT.*$/gm,
    (rule, proto: string, port: string) => {
      const c = counts.get(`${proto} . ${port}`);
      return c ? `[${c.packets}:${c.bytes}] ${rule}` : rule;
    },
  );
}

async function iptablesSave(f: 4 | 6): Promise<string> {
  const r = await read([save(f)]);
  return r.code === 0 ? r.stdout : "";
}

function parseSave(text: string, f: 4 | 6) {
  let table = "";
  let marker: string | null = null;
  const hooks: IptablesHook[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const hook = /^-A (\S+) -j (PORTHOLE-\S+)$/.exec(line);
    if (hook && !hook[1]?.startsWith("PORTHOLE-"))
      hooks.push({ family: f, table, chain: hook[1] as string, target: hook[2] as string });
    if (/^-A PORTHOLE-/.test(line)) marker = MARK_RE.exec(line)?.[1] ?? marker;
  }
  return { marker, hooks };
}

/**
 * Table inet porthole's marker (null: no table). `nft list set` fetches that one set only, so it costs
 * ~4 ms with any number of rules elsewhere (`nft -t list ruleset` took ~0.5 s beside 30,000 iptables-nft
 * rules). When the set is missing, `nft list flowtables inet` tells whether the table is there: it
 * prints every inet table (with its flowtables; porthole has none) as cheaply, where `nft list tables`
 * fetches every rule. A table without the set (an older porthole's) is "unmarked": reloaded whole.
 */
async function observeNft(): Promise<NftState | null> {
  const r = await read(["nft", "list", "set", "inet", "porthole", "marker"]);
  return r.code === 0 ? parseMarkerSet(r.stdout) : unmarkedOrAbsent();
}

/** With no marker set: "unmarked" when table inet porthole is there all the same, else null. */
async function unmarkedOrAbsent(): Promise<NftState | null> {
  const tables = await read(["nft", "list", "flowtables", "inet"]);
  return /^table inet porthole \{$/m.test(tables.stdout) ? { marker: "unmarked", generations: [] } : null;
}

/** porthole's iptables chains and hooks; `families`: the ones to read (the others hold none). */
async function observeIptables(families: (4 | 6)[] = [4, 6]): Promise<IptablesState> {
  const [save4, save6] = await Promise.all(
    ([4, 6] as const).map((f) => (families.includes(f) ? iptablesSave(f) : "")),
  );
  const v4 = parseSave(save4 ?? "", 4);
  const v6 = parseSave(save6 ?? "", 6);
  return {
    iptables: { 4: v4.marker, 6: v6.marker },
    hooks: [...v4.hooks, ...v6.hooks],
  };
}

/**
 * The families whose `iptables-save` can hold a PORTHOLE-* chain or a jump to one: where iptables-nft
 * has such a chain (nft lists it in table ip or ip6), or where the kernel holds any legacy table. A
 * jump needs its chain, so with neither the save prints nothing of porthole's, whichever flavour
 * plain `iptables` is. `chains` null (nft failed): both.
 */
async function iptablesFamilies(chains: NftChain[] | null): Promise<(4 | 6)[]> {
  const legacy = await Promise.all([legacyTableNames(4), legacyTableNames(6)]);
  return ([4, 6] as const).filter(
    (f, i) =>
      !chains ||
      (legacy[i] ?? []).length > 0 ||
      chains.some((c) => c.family === (f === 4 ? "ip" : "ip6") && c.name?.startsWith("PORTHOLE-")),
  );
}

/**
 * observeNft, observeIptables and observeForeign in one look, with fewer processes (the hub's watch
 * looks every 2 s): every table's chains are listed once, for the foreign tables and to tell which
 * iptables-save can find anything of porthole's (usually neither: no process). The marker is listed by
 * its own nft process: nft 1.0.6 lists `list set inet porthole marker; list chains` in one run, but
 * the second answer then holds table inet porthole's chains alone (its cache is filtered by the first).
 */
async function observeAll(): Promise<FirewallLook> {
  const chains = listChains();
  const [nft, iptables, foreign] = await Promise.all([
    observeNft(),
    chains.then(iptablesFamilies).then(observeIptables),
    observeForeign(chains),
  ]);
  return { nft, iptables, foreign };
}

async function removeHook(h: IptablesHook): Promise<void> {
  for (;;) {
    const r = await run([tool(h.family), "-w", "-t", h.table, "-D", h.chain, "-j", h.target], {
      allowFail: true,
    });
    if (r.code !== 0) return;
  }
}

/** Removes porthole's chains, and first the jumps into them (a chain still jumped to cannot go). */
async function removeIptables(f: 4 | 6): Promise<void> {
  let table = "";
  const chains: [string, string][] = [];
  const saved = await iptablesSave(f);
  for (const hook of parseSave(saved, f).hooks) await removeHook(hook);
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const m = /^:(PORTHOLE-\S+) /.exec(line);
    if (m) chains.push([table, m[1] as string]);
  }
  for (const [t, c] of chains) await run([tool(f), "-w", "-t", t, "-F", c]);
  for (const [t, c] of chains) await run([tool(f), "-w", "-t", t, "-X", c]);
}

/** The rules of table inet porthole in `nft -j list table inet porthole` output. Pure. */
export function nftRuleItems(json: string): number {
  return (JSON.parse(json) as { nftables: { rule?: unknown }[] }).nftables.filter((i) => i.rule).length;
}

export const firewallDriver: Host["firewall"] = {
  observeNft,
  nftRuleCount: async () => {
    const r = await run(["nft", "-j", "list", "table", "inet", "porthole"], { allowFail: true });
    return r.code === 0 ? nftRuleItems(r.stdout) : null;
  },
  observeIptables: () => observeIptables(),
  observe: observeAll,
  loadNft: async (script, marker) => {
    // Between reading the counters and the reload, packets may pass uncounted; counts never go back.
    const carried = carryNftCounters(script, await loadedNftCounters());
    await run(["nft", "-f", "-"], { input: markNft(carried, marker) });
  },
  patchNft: async (delta, marker, generations) => {
    await run(["nft", "-f", "-"], { input: markNftDelta(delta, marker, generations) });
  },
  removeNft: async () => {
    await run(["nft", "delete", "table", "inet", "porthole"], { allowFail: true });
  },
  loadIptables: async (f, text, marker) => {
    const saved = await run([save(f), "-c", "-t", "nat"], { allowFail: true });
    const counts = new Map((parseDnatCounters(saved.stdout) ?? []).map((c) => [c.key, c]));
    const carried = carryIptablesCounters(text, counts);
    await run([`${tool(f)}-restore`, "-w", "--noflush", "--counters"], {
      input: markIptables(carried, marker),
    });
  },
  removeIptables,
  addHook: async (h) => {
    const present = await run([tool(h.family), "-w", "-t", h.table, "-C", h.chain, "-j", h.target], {
      allowFail: true,
    });
    if (present.code !== 0)
      await run([tool(h.family), "-w", "-t", h.table, "-I", h.chain, "1", "-j", h.target]);
  },
  removeHook,
  observeForeign: () => observeForeign(),
  addPass,
  removePasses,
};
