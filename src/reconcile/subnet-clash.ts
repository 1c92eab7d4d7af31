// A tunnel address whose network another interface of this host already uses (the home LAN the Pi sits
// on, docker0, a VPS's private network): `ip address add` takes it, and the kernel then holds two routes
// to that network and uses one, so either the tunnel or the other network goes dark, with no error. An
// apply (and a join, before its enrollment tunnel) refuses it before changing anything. Networks that
// only nest (a 10.0.0.0/8 LAN around the default 10.8.0.0/24) both keep working by the longest prefix,
// except for the inner range's addresses on the outer network: said as a warning, not refused.
import type { Host } from "../host/types.ts";
import { type Cidr, contains, formatCidr, networkOf, parseCidr } from "../net/ip.ts";

const networkOfText = (text: string): Cidr | null => {
  const c = parseCidr(text);
  return c && { family: c.family, base: networkOf(c), prefix: c.prefix };
};

const overlap = (a: Cidr, b: Cidr) =>
  a.family === b.family &&
  (contains(a, { family: b.family, value: b.base }) || contains(b, { family: a.family, value: a.base }));

/** What an apply or join does about a clash: `refuse` (the same network), or `warn` (nested networks). */
export type Clash = { refuse: string } | { warn: string };

/**
 * Whether `iface` may take `adding` (addresses with their prefix, "10.8.0.2/24") beside the other
 * interfaces' global addresses: undefined when no network overlaps; `refuse` when another interface
 * uses the same network (the kernel routes it one way only); `warn` when one network holds the other
 * (the longer prefix wins: the outer network loses the inner range). Link and host scope addresses
 * (fe80::/64 on every interface, loopback) are not networks a tunnel could take over.
 * `field`: what sets the tunnel's prefix, for the fix ("hub.subnet on the hub").
 */
export async function subnetClash(
  host: Host,
  iface: string,
  adding: string[],
  field: (family: 4 | 6) => string,
): Promise<Clash | undefined> {
  if (!adding.length) return undefined;
  const others = (await host.net.addresses()).filter((a) => a.iface !== iface && a.scope === "global");
  let nested: Clash | undefined;
  for (const text of adding) {
    const mine = networkOfText(text);
    if (!mine) continue;
    for (const a of others) {
      const theirs = networkOfText(`${a.address}/${a.prefixlen}`);
      if (!theirs || !overlap(mine, theirs)) continue;
      const where = `${iface} address ${text}: its network ${formatCidr(mine)}`;
      const other = `${a.iface}'s ${a.address}/${a.prefixlen} on this machine`;
      const fix = `Set ${field(mine.family)} to a prefix no interface here uses (\`ip -br address\` lists them)`;
      if (mine.prefix === theirs.prefix)
        return {
          refuse: `${where} is the network of ${other}; the kernel would route that network one way only, cutting off either the tunnel or ${a.iface}'s network. ${fix}`,
        };
      const [inner, outer] =
        mine.prefix > theirs.prefix ? [mine, `${a.iface}'s network`] : [theirs, "the tunnel"];
      nested ??= {
        warn: `${where} and ${other} nest: ${formatCidr(inner)} is routed by its own, longer prefix, so ${outer} cannot reach addresses in it. ${fix}, if ${outer} has any there`,
      };
    }
  }
  return nested;
}
