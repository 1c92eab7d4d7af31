// nftables and iptables: porthole loads only its own table (inet porthole) or its own PORTHOLE-*
// chains, and marks the ruleset it loaded so the next apply can tell whether anything must change.
import type { IptablesHook } from "../compile/plan.ts";
import { run } from "./run.ts";
import type { FirewallState, Host } from "./types.ts";

const MARK_RE = /porthole:([0-9a-f]{8,64})/;
const MARK_RE_G = new RegExp(MARK_RE.source, "g");
const PASS = "porthole-pass";
const save = (f: 4 | 6) => (f === 4 ? "iptables-save" : "ip6tables-save");
const tool = (f: 4 | 6) => (f === 4 ? "iptables" : "ip6tables");

/**
 * The marker lives in a rule of chain `marker` (no hook, never jumped to): the kernel keeps a table's
 * or chain's first comment when a later transaction sets another, but a rule can be flushed and added
 * again, so an element-only update (patchNft) can move the marker in the same transaction.
 */
const markRule = (marker: string) => `counter comment "porthole:${marker}"`;

/** Puts the marker into the script as chain `marker` of table inet porthole. */
export function markNft(script: string, marker: string): string {
  return script.replace(
    /^table inet porthole \{\n/m,
    `table inet porthole {\n\tchain marker {\n\t\t${markRule(marker)}\n\t}\n`,
  );
}

/** An element delta (nft commands) plus the moved marker, as one transaction. */
export function markNftDelta(delta: string, marker: string): string {
  return [
    delta.trimEnd(),
    "add chain inet porthole marker",
    "flush chain inet porthole marker",
    `add rule inet porthole marker ${markRule(marker)}`,
  ]
    .filter(Boolean)
    .map((l) => `${l}\n`)
    .join("");
}

/** The last marker in `text` (a table that predates chain `marker` also has one in its comment). */
const lastMarker = (text: string) => [...text.matchAll(MARK_RE_G)].at(-1)?.[1] ?? null;

/** Adds a no-op rule carrying the marker to the first chain the text declares. */
export function markIptables(text: string, marker: string): string {
  const chain = /^:(\S+) /m.exec(text)?.[1];
  if (!chain) return text;
  return text.replace(/^COMMIT$/m, `-A ${chain} -m comment --comment "porthole:${marker}"\nCOMMIT`);
}

async function iptablesSave(f: 4 | 6): Promise<string> {
  const r = await run([save(f)], { allowFail: true });
  return r.code === 0 ? r.stdout : "";
}

function parseSave(text: string, f: 4 | 6) {
  let table = "";
  let marker: string | null = null;
  const hooks: IptablesHook[] = [];
  const passes: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const hook = /^-A (\S+) -j (PORTHOLE-\S+)$/.exec(line);
    if (hook && !hook[1]?.startsWith("PORTHOLE-"))
      hooks.push({ family: f, table, chain: hook[1] as string, target: hook[2] as string });
    if (/^-A PORTHOLE-/.test(line)) marker = MARK_RE.exec(line)?.[1] ?? marker;
    if (line.includes(PASS)) passes.push(`${f === 4 ? "iptables" : "ip6tables"} ${line}`);
  }
  return { marker, hooks, passes };
}

/** The marker in table inet porthole's part of `nft -t list ruleset` output; null without the table. */
export function nftMarker(ruleset: string): string | null {
  const start = ruleset.search(/^table inet porthole \{$/m);
  if (start < 0) return null;
  const end = ruleset.indexOf("\n}", start);
  return lastMarker(ruleset.slice(start, end < 0 ? undefined : end)) ?? "unmarked";
}

/**
 * The marker of table inet porthole (null: no table). Two ways to read it, same answer, different costs
 * (nft 1.0.6): `-t list table inet porthole` still fetches every set and map element (~130 ms with
 * 10,000 forwards); `-t list ruleset` skips elements but fetches every rule of every table, and rules
 * made by iptables-nft are slow to list (~2.5 s for 30,000). So the ruleset, unless the iptables side
 * (ip/ip6 tables, as iptables-save showed them) has many rules.
 */
async function nftMarkerOf(iptablesRules: number): Promise<string | null> {
  if (iptablesRules < 500) {
    const r = await run(["nft", "-t", "list", "ruleset"], { allowFail: true });
    if (r.code === 0) return nftMarker(r.stdout);
  }
  const r = await run(["nft", "-t", "list", "table", "inet", "porthole"], { allowFail: true });
  return r.code === 0 ? (lastMarker(r.stdout) ?? "unmarked") : null;
}

async function observe(): Promise<FirewallState> {
  const [save4, save6] = await Promise.all([iptablesSave(4), iptablesSave(6)]);
  const rules = (save4.match(/^-A /gm)?.length ?? 0) + (save6.match(/^-A /gm)?.length ?? 0);
  const nft = await nftMarkerOf(rules);
  const v4 = parseSave(save4, 4);
  const v6 = parseSave(save6, 6);
  return {
    nft,
    iptables: { 4: v4.marker, 6: v6.marker },
    hooks: [...v4.hooks, ...v6.hooks],
    passes: [...v4.passes, ...v6.passes],
  };
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

/** Forward-hook chains owned by others whose policy is drop (Docker sets iptables FORWARD to DROP). */
async function foreignForwardDrop(): Promise<string[]> {
  const r = await run(["nft", "-j", "list", "chains"], { allowFail: true });
  if (r.code !== 0) return [];
  const items = (JSON.parse(r.stdout) as { nftables: { chain?: Record<string, string> }[] }).nftables;
  return items
    .map((i) => i.chain)
    .filter(
      (c): c is Record<string, string> =>
        !!c && c.hook === "forward" && c.policy === "drop" && c.table !== "porthole",
    )
    .map((c) => `${c.family} ${c.table} ${c.name}`);
}

export const firewallDriver: Host["firewall"] = {
  observe,
  loadNft: async (script, marker) => {
    await run(["nft", "-f", "-"], { input: markNft(script, marker) });
  },
  patchNft: async (delta, marker) => {
    await run(["nft", "-f", "-"], { input: markNftDelta(delta, marker) });
  },
  removeNft: async () => {
    await run(["nft", "delete", "table", "inet", "porthole"], { allowFail: true });
  },
  loadIptables: async (f, text, marker) => {
    await run([`${tool(f)}-restore`, "-w", "--noflush"], { input: markIptables(text, marker) });
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
  foreignForwardDrop,
  addPass: async (iface, chains) => {
    const families = [4, 6].filter((f) => chains.includes(`${f === 4 ? "ip" : "ip6"} filter FORWARD`)) as (
      | 4
      | 6
    )[];
    for (const f of families) {
      for (const dir of ["-i", "-o"]) {
        const rule = ["FORWARD", dir, iface, "-m", "comment", "--comment", PASS, "-j", "ACCEPT"];
        const present = await run([tool(f), "-w", "-C", ...rule], { allowFail: true });
        if (present.code !== 0) await run([tool(f), "-w", "-I", ...rule.slice(0, 1), "1", ...rule.slice(1)]);
      }
    }
  },
  removePasses: async () => {
    for (const f of [4, 6] as const) {
      for (const line of parseSave(await iptablesSave(f), f).passes) {
        const args = line.split(" ").slice(1);
        const del = args.map((a, i) => (i === 0 ? "-D" : a.replace(/^"|"$/g, "")));
        await run([tool(f), "-w", ...del], { allowFail: true });
      }
    }
  },
};
