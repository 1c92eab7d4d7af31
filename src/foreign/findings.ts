// Which other owners' rules drop porthole's traffic on this host, and the fix for each: pure, over an
// observed snapshot of their rulesets (host/foreign.ts reads it).
import type { Flavour, ForeignSnapshot } from "../host/foreign.ts";
import { formatAddr } from "../net/ip.ts";
import type { Target } from "../plan/plan.ts";
import type { FirewallFinding, PathKind } from "../protocol/status.ts";
import { describeFinding, xtablesCommand } from "../protocol/status-text.ts";
import type { Spec } from "../spec/types.ts";
import { evaluate } from "./evaluate.ts";
import { parseIptablesSave } from "./iptables-save.ts";
import type { Probe, Ruleset } from "./model.ts";
import { parseNftJson } from "./nft-json.ts";

/** Every foreign ruleset in the snapshot. */
export function foreignRulesets(s: ForeignSnapshot): Ruleset[] {
  const out = parseNftJson(s.nft);
  for (const x of s.xtables) {
    const rs = parseIptablesSave(
      x.text,
      x.flavour === "legacy" ? "iptables-legacy" : "iptables-nft",
      x.family,
    );
    if (rs) out.push(rs);
  }
  return out;
}

interface Labeled {
  path: PathKind;
  forward?: string;
  probe: Probe;
}

/** The packets the hub needs to pass: its WireGuard port, its API through the tunnel, each forward both ways, mesh. */
/** `targets`: the forwards as the hub's plan expanded them (HostPlan.targets). */
export function hubProbes(spec: Spec, targets: Target[]): Labeled[] {
  const { hub } = spec;
  const wg = { name: hub.interface };
  const pub = hub.publicInterface === "auto" ? { not: [hub.interface, "lo"] } : { name: hub.publicInterface };
  const none = { name: "" };
  // The sources are clients or peers: not known here (saddr tests stay "maybe").
  const base = { family: 4 as const, dnat: false, saddr: null };
  const out: Labeled[] = [
    {
      path: "wireguard",
      probe: {
        ...base,
        hook: "input",
        iif: pub,
        oif: none,
        proto: "udp",
        dport: hub.listenPort,
        daddr: null,
        ctstate: "new",
      },
    },
    {
      path: "api",
      probe: {
        ...base,
        hook: "input",
        iif: wg,
        oif: none,
        proto: "tcp",
        dport: hub.apiPort,
        daddr: formatAddr(hub.address),
        ctstate: "new",
      },
    },
  ];
  const seen = new Set<string>();
  for (const t of targets) {
    const key = `${t.forward}/${t.proto}`;
    if (t.family !== 4 || seen.has(key)) continue;
    seen.add(key);
    const fwd = { ...base, dnat: true, hook: "forward" as const, proto: t.proto };
    out.push(
      {
        path: "forward",
        forward: t.forward,
        probe: { ...fwd, iif: pub, oif: wg, dport: t.targetPort, daddr: t.addr, ctstate: "new" },
      },
      {
        path: "forward",
        forward: t.forward,
        probe: { ...fwd, iif: wg, oif: pub, dport: null, daddr: null, ctstate: "established" },
      },
    );
  }
  if (hub.mesh && spec.peers.length > 1) {
    out.push({
      path: "mesh",
      probe: {
        ...base,
        hook: "forward",
        iif: wg,
        oif: wg,
        proto: "tcp",
        dport: null,
        daddr: null,
        ctstate: "new",
      },
    });
  }
  return out;
}

const familyOk = (rsFamily: string, f: 4 | 6) =>
  rsFamily === "inet" || (rsFamily === "ip" && f === 4) || (rsFamily === "ip6" && f === 6);

/** What the fixes name: the hub's ports and interface, and where its iptables backend hooks in. */
export interface FindingContext {
  wgInterface: string;
  listenPort: number;
  apiPort: number;
  /**
   * The iptables flavour porthole's own chains and their jumps live in (its iptables backend: what plain
   * `iptables` is); null or absent with the nftables backend. A FORWARD drop there is fixed by putting
   * the jump back, not by marked accepts.
   */
  ownFlavour?: Flavour | null;
}

/**
 * The foreign rules and policies that drop the probes, one finding per dropping place (its forwards
 * listed together). `ignorePasses`: as if porthole's marked accepts were not there (to decide whether
 * they are needed).
 */
export function analyze(
  rulesets: Ruleset[],
  probes: Labeled[],
  ctx: FindingContext & { ignorePasses?: boolean },
): FirewallFinding[] {
  const found = new Map<string, FirewallFinding>();
  // Per finding, per forward ("" for the other paths): certain when one of its directions is certainly
  // dropped (a forward needs both; the reply's unknown address makes that direction only "may").
  const certainty = new Map<string, Map<string, boolean>>();
  for (const raw of rulesets) {
    const rs = ctx.ignorePasses ? withoutPasses(raw) : raw;
    for (const chain of Object.values(rs.chains)) {
      if (!chain.hook) continue;
      for (const { path, forward, probe } of probes) {
        if (probe.hook !== chain.hook || !familyOk(rs.family, probe.family)) continue;
        const o = evaluate(rs, chain, probe);
        if (!o.drops) continue;
        const rule = o.rule?.text ?? null;
        const key = [path, rs.source, rs.family, rs.table, chain.name, o.chain, rule].join("\u0000");
        let f = found.get(key);
        if (!f) {
          f = {
            path,
            what: "",
            forwards: [],
            source: rs.source,
            family: rs.family,
            table: rs.table,
            chain: chain.name,
            ruleChain: o.chain ?? chain.name,
            rule,
            via: o.via ?? [chain.name],
            certain: o.certain,
            passable: rs.source !== "nft" && chain.hook === "forward" && !portholeAccepts(rs, chain.name),
            fix: [],
          };
          f.fix = fixFor(f, rs, ctx);
          found.set(key, f);
        }
        const byForward = certainty.get(key) ?? new Map<string, boolean>();
        certainty.set(
          key,
          byForward.set(forward ?? "", (byForward.get(forward ?? "") ?? false) || o.certain),
        );
        if (forward && !f.forwards.includes(forward)) f.forwards.push(forward);
      }
    }
  }
  for (const [key, f] of found) f.certain = [...(certainty.get(key)?.values() ?? [])].every(Boolean);
  const out = [...found.values()];
  for (const f of out) f.what = WHAT[f.path](f, ctx);
  return out;
}

/**
 * The chain already holds porthole's accept (its marked pass, or the jump of its iptables backend): a
 * drop found there comes before it, and inserting passes again would not change that.
 */
const portholeAccepts = (rs: Ruleset, chain: string) =>
  !!rs.chains[chain]?.rules.some((r) => r.pass || r.verdict.kind === "porthole");

function withoutPasses(rs: Ruleset): Ruleset {
  const chains = Object.fromEntries(
    Object.entries(rs.chains).map(([k, c]) => [k, { ...c, rules: c.rules.filter((r) => !r.pass) }]),
  );
  return { ...rs, chains };
}

const JUMP_BACK = "porthole apply   (puts porthole's jump back at the top of FORWARD)";

function fixFor(f: FirewallFinding, rs: Ruleset, ctx: FindingContext): string[] {
  const wg = ctx.wgInterface;
  if (f.source !== "nft") {
    // In its own flavour apply puts back the jump into its chains (an `iptables -F` removed it); in the
    // other flavour it inserts marked accepts (diffForeign).
    const own =
      ctx.ownFlavour && f.source === (ctx.ownFlavour === "legacy" ? "iptables-legacy" : "iptables-nft");
    if (f.passable && own) return [JUMP_BACK];
    if (f.passable) return ["porthole apply   (inserts porthole's marked accepts at the top of FORWARD)"];
    const cmd = xtablesCommand(f.source, f.family);
    if (f.path === "forward" || f.path === "mesh") {
      // Ahead of porthole's own accept (a user's `iptables -I FORWARD 1 ...`): porthole does not move
      // another owner's rule; deleting it is the fix (its text is the iptables-save line, "-A CHAIN ...").
      if (f.rule !== null)
        return [
          `${cmd} -D ${f.rule.replace(/^-A /, "")}   (the rule ahead of porthole's accept in ${f.chain})`,
        ];
      return [JUMP_BACK];
    }
    const ufw = Object.keys(rs.chains).some((c) => c.startsWith("ufw"));
    if (f.path === "wireguard")
      return [
        ufw
          ? `ufw allow ${ctx.listenPort}/udp`
          : `${cmd} -I INPUT -p udp --dport ${ctx.listenPort} -j ACCEPT`,
      ];
    return [
      ufw
        ? `ufw allow in on ${wg} to any port ${ctx.apiPort} proto tcp`
        : `${cmd} -I INPUT -i ${wg} -p tcp --dport ${ctx.apiPort} -j ACCEPT`,
    ];
  }
  const nft = (what: string) => `nft insert rule ${f.family} ${f.table} ${f.chain} ${what} accept`;
  const now =
    f.path === "wireguard"
      ? [nft(`udp dport ${ctx.listenPort}`)]
      : f.path === "api"
        ? [nft(`iifname "${wg}" tcp dport ${ctx.apiPort}`)]
        : f.path === "mesh"
          ? [nft(`iifname "${wg}" oifname "${wg}"`)]
          : [nft(`oifname "${wg}"`), nft(`iifname "${wg}"`)];
  if (f.table !== "firewalld") return now;
  // firewalld rewrites its table on reload: the lasting fix goes through firewall-cmd.
  const zone = f.via
    .map((c) => /^filter_IN_(.+?)(?:_(?:pre|log|deny|allow|post))?$/.exec(c)?.[1])
    .find((z) => z !== undefined);
  const lasting =
    f.path === "wireguard"
      ? `firewall-cmd --permanent${zone ? ` --zone=${zone}` : ""} --add-port=${ctx.listenPort}/udp && firewall-cmd --reload`
      : f.path === "api" || f.path === "mesh"
        ? `firewall-cmd --permanent --zone=trusted --add-interface=${wg} && firewall-cmd --reload`
        : `firewall-cmd --permanent --zone=trusted --add-interface=${wg} && firewall-cmd --permanent --new-policy porthole && firewall-cmd --permanent --policy porthole --add-ingress-zone=ANY --add-egress-zone=trusted --set-target=ACCEPT && firewall-cmd --reload`;
  return [lasting, ...now.map((l) => `${l}   (at once, until firewalld reloads)`)];
}

/** The finding as a peer that owns only `forwards` may see it: its own forwards' part, or null. */
export function narrowFinding(f: FirewallFinding, forwards: string[]): FirewallFinding | null {
  const mine = f.forwards.filter((n) => forwards.includes(n));
  if (f.path !== "forward" || !mine.length) return null;
  const narrowed = { ...f, forwards: mine };
  return { ...narrowed, what: WHAT.forward(narrowed) };
}

const WHAT: Record<PathKind, (f: FirewallFinding, c?: { listenPort: number; apiPort: number }) => string> = {
  wireguard: (_f, c) => `the WireGuard port udp/${c?.listenPort}`,
  api: (_f, c) => `the hub's API through the tunnel (tcp/${c?.apiPort})`,
  forward: (f) =>
    f.forwards.length
      ? `forward${f.forwards.length > 1 ? "s" : ""} ${f.forwards.join(", ")}`
      : "traffic through the tunnel",
  mesh: () => "traffic between peers (mesh)",
};

/** The finding and its fix, as lines for apply's output, the daemon's log and status. */
export function findingLines(f: FirewallFinding): string[] {
  return [describeFinding(f), ...f.fix.map((l) => `  fix: ${l}`)];
}
