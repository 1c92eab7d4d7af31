// Firewall: porthole's ruleset is loaded whole (one nft transaction, or one iptables-restore per
// family) when its marker differs, or, with nftables, patched (elements deleted and added) when the
// kernel holds the previous ruleset and only set/map elements changed (the diff is a value, see
// nft-delta.ts; the steps are built from it); hooks into built-in chains are added once.
import { createHash } from "node:crypto";
import { renderNft, renderNftChanges } from "../compile/nft-text.ts";
import type { FirewallState, Host, IptablesState, NftState } from "../host/types.ts";
import type { NftPlan } from "../plan/nft.ts";
import type { FirewallPlan } from "../plan/plan.ts";
import { diffNftTable, holds, type MarkedNft, type NftDiff } from "./nft-delta.ts";
import type { Step } from "./steps.ts";

/** Markers of the last few rulesets (each apply hashes the same megabyte-sized texts several times). */
const markers = new Map<string, string>();

export function marker(text: string): string {
  let m = markers.get(text);
  if (m === undefined) {
    m = createHash("sha256").update(text).digest("hex").slice(0, 16);
    if (markers.size >= 4) markers.delete(markers.keys().next().value as string);
    markers.set(text, m);
  }
  return m;
}

/**
 * A table's text (rendered once per plan object: a daemon's next apply diffs against the plan it just
 * loaded, and the verify pass against the same two again) and that text's marker.
 */
const rendered = new WeakMap<NftPlan, { text: string; marker: string }>();
function nftText(plan: NftPlan): { text: string; marker: string } {
  let r = rendered.get(plan);
  if (!r) {
    const text = renderNft(plan);
    r = { text, marker: marker(text) };
    rendered.set(plan, r);
  }
  return r;
}
/** The marker `plan`'s table carries when porthole loads it (host/firewall.ts markNft). */
export const nftMarker = (plan: NftPlan): string => nftText(plan).marker;

const marked = (plan: NftPlan | null): MarkedNft | null =>
  plan ? { plan, marker: nftText(plan).marker } : null;

/** Both halves of the firewall as the host has them (for `down` and tools that want the whole picture). */
export async function observeFirewall(fw: Host["firewall"]): Promise<FirewallState> {
  const [nft, iptables] = await Promise.all([fw.observeNft(), fw.observeIptables()]);
  return { nft, ...iptables };
}

/**
 * Whether the kernel holds the ruleset porthole applied last (`previous`; null: none known), hooks
 * included. If not, the rules were missing or different for a while (`nft flush ruleset`, a deleted
 * hook, a reboot) and flows tracked meanwhile may have taken another path.
 */
export function heldPrevious(
  previous: FirewallPlan | null,
  nft: NftState | null | undefined,
  iptables: IptablesState | null,
): boolean {
  if (!previous) return false;
  if (previous.nft && nft !== undefined && !(nft && holds(nft, marked(previous.nft) as MarkedNft)))
    return false;
  if (!iptables) return true;
  for (const fam of [4, 6] as const) {
    const text = previous.iptables[fam];
    if (text && iptables.iptables[fam] !== marker(text)) return false;
  }
  const key = (h: { family: number; table: string; chain: string; target: string }) =>
    `${h.family} ${h.table} ${h.chain} ${h.target}`;
  const present = new Set(iptables.hooks.map(key));
  return previous.hooks.every((h) => present.has(key(h)));
}

/** What the firewall steps say: the forward changes when there are any, else which ruleset changes. */
const describe = (plan: FirewallPlan, summary: string[]) =>
  summary.length
    ? summary.join("\n")
    : plan.nft
      ? "~ nftables table inet porthole"
      : "~ iptables PORTHOLE-* chains";

/** Table inet porthole. `previous` is the plan porthole applied last (to restore on failure); null if none. */
export function diffNft(
  plan: FirewallPlan,
  have: NftState | null,
  previous: FirewallPlan | null,
  summary: string[],
): Step[] {
  return nftSteps(
    diffNftTable(marked(plan.nft), have, marked(previous?.nft ?? null)),
    plan,
    have,
    previous,
    summary,
  );
}

/** The step that carries out `diff` (none when the kernel holds the plan already). */
export function nftSteps(
  diff: NftDiff,
  plan: FirewallPlan,
  have: NftState | null,
  previous: FirewallPlan | null,
  summary: string[],
): Step[] {
  const s = "nftables" as const;
  const restore = async (h: Host) => {
    if (previous?.nft) {
      const { text, marker } = nftText(previous.nft);
      await h.firewall.loadNft(text, marker);
    } else await h.firewall.removeNft();
  };
  if (diff.kind === "none") return [];
  if (diff.kind === "remove" || !plan.nft)
    return [
      {
        subsystem: s,
        text: "- nftables table inet porthole",
        run: (h) => h.firewall.removeNft(),
        undo: restore,
      },
    ];
  const { text, marker } = nftText(plan.nft);
  const generations = have?.generations ?? [];
  const run: Step["run"] =
    diff.kind === "patch"
      ? // The kernel holds the previous ruleset and only elements changed: delete and add just those.
        (h) => h.firewall.patchNft(renderNftChanges(diff.changes), marker, generations)
      : (h) => h.firewall.loadNft(text, marker);
  return [{ subsystem: s, text: describe(plan, summary), run, undo: restore }];
}

/** porthole's iptables chains and their hooks. `previous` as for diffNft. */
export function diffIptables(
  plan: FirewallPlan,
  have: IptablesState,
  previous: FirewallPlan | null,
  summary: string[],
): Step[] {
  const steps: Step[] = [];
  const f = "firewall" as const;
  for (const fam of [4, 6] as const) {
    const text = plan.iptables[fam];
    const prev = previous?.iptables[fam] ?? "";
    const restore = async (h: Host) => {
      if (prev) await h.firewall.loadIptables(fam, prev, marker(prev));
      else await h.firewall.removeIptables(fam);
    };
    const name = fam === 4 ? "iptables" : "ip6tables";
    if (text && have.iptables[fam] !== marker(text)) {
      steps.push({
        subsystem: f,
        text: plan.nft || fam === 6 ? `~ ${name} PORTHOLE-* chains` : describe(plan, summary),
        run: (h) => h.firewall.loadIptables(fam, text, marker(text)),
        undo: restore,
      });
    } else if (!text && have.iptables[fam] !== null) {
      steps.push({
        subsystem: f,
        text: `- ${name} PORTHOLE-* chains`,
        run: (h) => h.firewall.removeIptables(fam),
        undo: restore,
      });
    }
  }
  const key = (h: { family: number; table: string; chain: string; target: string }) =>
    `${h.family} ${h.table} ${h.chain} ${h.target}`;
  const present = new Set(have.hooks.map(key));
  for (const hook of plan.hooks.filter((x) => !present.has(key(x)))) {
    steps.push({
      subsystem: f,
      text: `+ hook ${hook.family === 4 ? "iptables" : "ip6tables"} -t ${hook.table} ${hook.chain} -j ${hook.target}`,
      run: (h) => h.firewall.addHook(hook),
      undo: (h) => h.firewall.removeHook(hook),
    });
  }
  const wanted = new Set(plan.hooks.map(key));
  for (const hook of have.hooks.filter((x) => !wanted.has(key(x)))) {
    steps.push({
      subsystem: f,
      text: `- hook ${hook.family === 4 ? "iptables" : "ip6tables"} -t ${hook.table} ${hook.chain} -j ${hook.target}`,
      run: (h) => h.firewall.removeHook(hook),
      undo: (h) => h.firewall.addHook(hook),
    });
  }
  return steps;
}
