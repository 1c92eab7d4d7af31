// A tunnel address whose network another interface of this host already uses (the home LAN the Pi sits
// on, docker0, a VPS's private network): `ip address add` takes it, and the kernel then holds two routes
// to that network and uses one, so either the tunnel or the other network goes dark, with no error. An
// apply (and a join, before its enrollment tunnel) refuses it before changing anything.
import type { Host, IfaceAddress } from "../host/types.ts";
import { type Cidr, contains, formatCidr, networkOf, parseCidr } from "../net/ip.ts";

const networkOfText = (text: string): Cidr | null => {
  const c = parseCidr(text);
  return c && { family: c.family, base: networkOf(c), prefix: c.prefix };
};

const overlap = (a: Cidr, b: Cidr) =>
  a.family === b.family &&
  (contains(a, { family: b.family, value: b.base }) || contains(b, { family: a.family, value: a.base }));

/**
 * Why `iface` may not take `adding` (addresses with their prefix, "10.8.0.2/24"), or undefined: another
 * interface holds an address whose network overlaps one of theirs. Link and host scope addresses
 * (fe80::/64 on every interface, loopback) are not networks a tunnel could take over.
 * `field`: what sets the tunnel's prefix, for the fix ("hub.subnet on the hub").
 */
export async function subnetClash(
  host: Host,
  iface: string,
  adding: string[],
  field: (family: 4 | 6) => string,
): Promise<string | undefined> {
  if (!adding.length) return undefined;
  const others = (await host.net.addresses()).filter((a) => a.iface !== iface && a.scope === "global");
  for (const text of adding) {
    const mine = networkOfText(text);
    if (!mine) continue;
    const theirs = others.find((a: IfaceAddress) => {
      const n = networkOfText(`${a.address}/${a.prefixlen}`);
      return n !== null && overlap(mine, n);
    });
    if (!theirs) continue;
    return `${iface} address ${text}: its network ${formatCidr(mine)} overlaps ${theirs.iface}'s ${theirs.address}/${theirs.prefixlen} on this machine; the kernel would route that network one way only, cutting off either the tunnel or ${theirs.iface}'s network. Set ${field(mine.family)} to a prefix no interface here uses (\`ip -br address\` lists them)`;
  }
  return undefined;
}
