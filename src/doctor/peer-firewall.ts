// This peer's own firewall, for the packets real clients send: they arrive on the tunnel interface
// from the client's address (transparent), from an address in the hub's SNAT pool (snat with
// hub.snatPool), or from the hub's tunnel address (snat without a pool). The target check connects
// locally and the hub's probe comes from 10.8.0.1, so a rule admitting only the tunnel subnet passes
// both and still drops every client: judged here by src/foreign's evaluator over the observed rules.
import { peerPool } from "../compile/snat-pool.ts";
import { evaluate } from "../foreign/evaluate.ts";
import { foreignRulesets } from "../foreign/findings.ts";
import type { Probe, Ruleset } from "../foreign/model.ts";
import { addrAt, formatAddr } from "../net/ip.ts";
import { formatRange } from "../net/ports.ts";
import type { Forward, Proto } from "../spec/types.ts";
import type { Outcome, PeerScene } from "./peer-scene.ts";
import { MAX_PORTS } from "./peer-targets.ts";

/** A public client address (documentation range, RFC 5737) standing for any transparent client. */
export const CLIENT_ADDR = "198.51.100.1";

/** The source a client's packet carries on this peer's tunnel interface, and how it is described. */
export function clientSource(s: PeerScene, f: Forward): { addr: string; what: string } {
  if (f.mode === "transparent") return { addr: CLIENT_ADDR, what: `a client's own address (${CLIENT_ADDR})` };
  const pool = peerPool(s.spec, s.me);
  if (pool && s.spec.hub.snatPool) {
    // Each client gets its own pool address; the first host stands for all (rules test the prefix).
    const addr = formatAddr(addrAt(s.spec.hub.snatPool, 1n));
    return { addr, what: `the hub's SNAT pool ${pool} (${addr})` };
  }
  const hub = formatAddr(s.spec.hub.address);
  return { addr: hub, what: `the hub's tunnel address (${hub})` };
}

const familyOk = (f: string) => f === "inet" || f === "ip";

/**
 * One forward and protocol: whether the input hook of any ruleset drops a new connection from
 * `src` on the tunnel interface to the target port(s) (IPv4; the first MAX_PORTS of a range).
 */
export function judgeFirewall(
  rulesets: Ruleset[],
  f: Forward,
  proto: Proto,
  src: { addr: string; what: string },
  daddr: string,
  iface: string,
): Outcome {
  const ports: number[] = [];
  for (let p = f.targetPort.from; p <= f.targetPort.to && ports.length < MAX_PORTS; p++) ports.push(p);
  const range = `${proto}/${formatRange(f.targetPort)}`;
  let maybe: Outcome | null = null;
  let read = 0;
  for (const rs of rulesets) {
    if (!familyOk(rs.family)) continue;
    for (const chain of Object.values(rs.chains)) {
      if (chain.hook !== "input") continue;
      read++;
      for (const dport of ports) {
        const probe: Probe = {
          hook: "input",
          family: 4,
          iif: { name: iface },
          oif: { name: "" },
          proto,
          dport,
          daddr,
          saddr: src.addr,
          ctstate: "new",
          dnat: false,
        };
        const o = evaluate(rs, chain, probe);
        if (!o.drops) continue;
        const where = `${rs.source} ${rs.family} ${rs.table} chain ${o.chain}`;
        const what = o.rule ? `rule \`${o.rule.text}\`` : "its policy";
        const fix = `accept ${proto}/${dport} on ${iface} from any source, ahead of it (e.g. ufw allow in on ${iface} to any port ${dport} proto ${proto}, or iptables -I INPUT -i ${iface} -p ${proto} --dport ${dport} -j ACCEPT), or narrow that rule`;
        if (o.certain)
          return {
            status: "fail",
            found: `${range}: this machine's firewall (${where}, ${what}) drops clients' packets, which arrive on ${iface} from ${src.what}`,
            fix,
          };
        maybe ??= {
          status: "warn",
          found: `${range}: this machine's firewall may drop clients' packets from ${src.what} (${where}, ${what}: a test porthole cannot decide)`,
          fix,
        };
      }
    }
  }
  if (maybe) return maybe;
  return {
    status: "ok",
    found: `${range}: no input rule here drops a new connection on ${iface} from ${src.what} (${read} input chain${read === 1 ? "" : "s"} read)`,
  };
}

/** One outcome per forward to this peer and protocol; [] when none goes to it. */
export async function checkFirewall(s: PeerScene): Promise<{ name: string; outcome: Outcome }[]> {
  const mine = s.spec.forwards.filter((f) => f.peer === s.me.name);
  if (!mine.length) return [];
  const rulesets = foreignRulesets(await s.host.firewall.observeForeign());
  const daddr = formatAddr(s.me.address);
  const iface = s.spec.hub.interface;
  const out: { name: string; outcome: Outcome }[] = [];
  for (const f of mine)
    for (const proto of f.protos)
      out.push({
        name: `${f.name} ${proto}`,
        outcome: judgeFirewall(rulesets, f, proto, clientSource(s, f), daddr, iface),
      });
  return out;
}
