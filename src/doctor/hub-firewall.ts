// The hub's firewalls: other owners' drops on the WireGuard port, the API and the forwards (iptables
// legacy, iptables-nft, foreign nft tables: judged by src/foreign as apply judges them), and public
// ports that shadow a service on the hub.
import { foreignRulesets, hubProbes } from "../foreign/findings.ts";
import type { Ruleset } from "../foreign/model.ts";
import { nftRuleCount } from "../plan/nft.ts";
import type { FirewallFinding } from "../protocol/status.ts";
import { droppedBy, droppedPhrase, where } from "../protocol/status-text.ts";
import { nftMarker } from "../reconcile/firewall.ts";
import { diffForeign } from "../reconcile/passes.ts";
import { describeShadow, FORCE_HOW, findShadows } from "../reconcile/shadowed.ts";
import type { Check, CheckResult } from "./check.ts";
import type { HubContext } from "./hub-context.ts";

/** "iptables-legacy filter (ip), iptables-nft filter (ip), nft table inet firewalld" */
function read(rulesets: Ruleset[], hook: "input" | "forward"): string {
  const hooked = rulesets.filter((rs) => Object.values(rs.chains).some((c) => c.hook === hook));
  if (!hooked.length) return `no other firewall has ${hook === "input" ? "an input" : "a forward"} chain`;
  const names = hooked.map((rs) =>
    rs.source === "nft" ? `nft table ${rs.family} ${rs.table}` : `${rs.source} ${rs.table} (${rs.family})`,
  );
  return `read ${names.join(", ")}`;
}

const found = (f: FirewallFinding) => `${droppedPhrase(f)} by ${where(f)} (${droppedBy(f)})`;

function result(id: string, f: FirewallFinding, passFix = false): CheckResult {
  return {
    id,
    status: f.certain ? "fail" : "warn",
    found: passFix
      ? `${found(f)}; porthole's marked accepts (porthole-pass) are missing there`
      : `${found(f)}; porthole does not change another owner's chain`,
    fix: passFix
      ? ["porthole apply   (inserts porthole's marked accepts at the top of that FORWARD)"]
      : f.fix,
  };
}

function dropCheck(
  id: string,
  about: string,
  hook: "input" | "forward",
  paths: FirewallFinding["path"][],
  okText: (ctx: HubContext) => string,
): Check<HubContext> {
  return {
    id,
    about,
    run: async (ctx) => {
      const snap = await ctx.host.firewall.observeForeign();
      const { findings, unpassed } = diffForeign(ctx.plan, ctx.spec, snap);
      const mine = (f: FirewallFinding) => paths.includes(f.path);
      const out = [
        ...findings.filter(mine).map((f) => result(id, f)),
        ...unpassed.filter(mine).map((f) => result(id, f, true)),
      ];
      if (out.length) return out;
      // No packet of these paths to judge (no IPv4 forward, no mesh): no row, not an "ok" for nothing.
      if (!hubProbes(ctx.spec, ctx.plan.targets).some((p) => paths.includes(p.path))) return [];
      return { id, status: "ok", found: `${okText(ctx)} (${read(foreignRulesets(snap), hook)})` };
    },
  };
}

export const wgPortInput = dropCheck(
  "wg-port-input",
  "no other firewall drops the WireGuard port on INPUT (ufw's default deny, firewalld)",
  "input",
  ["wireguard"],
  (ctx) => `nothing on the hub drops udp/${ctx.spec.hub.listenPort} on input`,
);

export const apiInput = dropCheck(
  "api-input",
  "no other firewall drops the hub's API through the tunnel on INPUT",
  "input",
  ["api"],
  (ctx) => `nothing on the hub drops tcp/${ctx.spec.hub.apiPort} from ${ctx.spec.hub.interface} on input`,
);

export const forwardDrops = dropCheck(
  "forward-drops",
  "no other firewall drops forwarded traffic (Docker's FORWARD DROP, firewalld, distribution rulesets)",
  "forward",
  ["forward", "mesh"],
  (ctx) => {
    const n = ctx.spec.forwards.length;
    return `nothing on the hub drops ${n === 0 ? "the tunnel's forwarded" : n === 1 ? "the forward's" : `the ${n} forwards'`} traffic`;
  },
);

/** A forward whose public port a service on the hub listens on takes that service's internet traffic. */
export const shadowed: Check<HubContext> = {
  id: "shadowed",
  about: "no forward's public port is one a service on the hub listens on",
  run: async (ctx) => {
    const shadows = await findShadows(ctx.host, ctx.spec.hub, ctx.spec.forwards);
    if (!shadows.length) {
      const forced = ctx.spec.forwards.filter((f) => f.shadowHubService).length;
      // Every forward (or none) marked to shadow on purpose: no port was looked at, so no row.
      if (forced === ctx.spec.forwards.length) return [];
      return {
        id: "shadowed",
        status: "ok",
        found: `no forward's public port is served on the hub${forced ? ` (${forced} marked shadowHubService not checked)` : ""}`,
      };
    }
    return shadows.map((s) => ({
      id: "shadowed",
      status: "fail" as const,
      found: `${describeShadow(s)}; forward ${s.forward} takes its traffic from the internet`,
      fix: [
        `move the service off ${s.proto}/${s.port}, or porthole forward rm ${s.forward}`,
        `or keep the forward on purpose: ${FORCE_HOW}`,
      ],
    }));
  },
};

/**
 * porthole's own rules are loaded: table inet porthole (nftables), or its PORTHOLE-* chains and the
 * jumps into them (iptables). `nft flush ruleset` (the first line of Debian's /etc/nftables.conf, run
 * by nftables.service on every start or reload) and `iptables -F` remove them; the daemon puts them
 * back within seconds, a hub run by `apply` alone stays without forwards.
 */
export const ruleset: Check<HubContext> = {
  id: "ruleset",
  about: "porthole's own rules are loaded (table inet porthole, or its iptables chains and hooks)",
  run: async (ctx) => {
    const fw = ctx.plan.firewall;
    const fix = [
      "porthole apply",
      "if nftables.service flushed it: keep `flush ruleset` out of /etc/nftables.conf (flush only its own tables), or restart porthole-hub after nftables",
    ];
    if (fw.backend === "nftables") {
      if (!fw.nft) return [];
      const [nft, rules] = await Promise.all([
        ctx.host.firewall.observeNft(),
        ctx.host.firewall.nftRuleCount(),
      ]);
      // The table's marker survives what empties its chains (`nft flush table inet porthole`, `flush
      // chain`): loaded, it says nothing of the rules. Counted against this spec's only when the
      // kernel holds this spec's ruleset (an applied older spec has its own count).
      const want = nftRuleCount(fw.nft.chains);
      const current = nft?.marker === nftMarker(fw.nft);
      if (nft && rules !== null && (rules === 0 || (current && rules !== want)))
        return {
          id: "ruleset",
          status: "fail",
          found: `table inet porthole is loaded, but its chains hold ${current ? `${rules} of the ${want} rules porthole loaded` : "no rules"}: forwards whose rules are gone are not DNATed (\`nft flush table inet porthole\` or \`flush chain\` empties chains and keeps the table and its marker, which is all the daemon's 2 s rounds read)`,
          fix: [
            "porthole apply (it counts the rules and loads the table whole; so does the daemon when it starts)",
          ],
        };
      if (nft)
        return {
          id: "ruleset",
          status: "ok",
          found:
            rules === null
              ? "table inet porthole is loaded"
              : `table inet porthole is loaded, its ${rules} rules in place`,
        };
      return {
        id: "ruleset",
        status: "fail",
        found:
          "table inet porthole is missing: nothing DNATs the forwards (an `nft flush ruleset` removes it)",
        fix,
      };
    }
    const have = await ctx.host.firewall.observeIptables();
    const families = ([4, 6] as const).filter((f) => fw.iptables[f]);
    const missing = [
      ...families
        .filter((f) => !have.iptables[f])
        .map((f) => `${f === 4 ? "iptables" : "ip6tables"} PORTHOLE-* chains`),
      ...fw.hooks
        .filter(
          (h) =>
            !have.hooks.some(
              (x) =>
                x.family === h.family && x.table === h.table && x.chain === h.chain && x.target === h.target,
            ),
        )
        .map(
          (h) =>
            `the jump ${h.family === 4 ? "iptables" : "ip6tables"} -t ${h.table} ${h.chain} -j ${h.target}`,
        ),
    ];
    if (!missing.length)
      return {
        id: "ruleset",
        status: "ok",
        found: `porthole's iptables chains and their ${fw.hooks.length} jumps are loaded`,
      };
    return {
      id: "ruleset",
      status: "fail",
      found: `missing: ${missing.join(", ")} (an \`iptables -F\` or a firewall restart removes them)`,
      fix,
    };
  },
};
