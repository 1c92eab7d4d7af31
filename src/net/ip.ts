// IPv4/IPv6 addresses and prefixes as bigints: exact arithmetic for allocation and containment.
import ipaddr from "ipaddr.js";

export type Family = 4 | 6;
export interface Addr {
  family: Family;
  value: bigint;
}
export interface Cidr {
  family: Family;
  base: bigint;
  prefix: number;
}

const bits = (f: Family) => (f === 4 ? 32 : 128);

export function parseAddr(text: string): Addr | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBig(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (!text.includes(":") || text.includes("%") || !ipaddr.IPv6.isValid(text)) return null;
  return { family: 6, value: bytesToBig(ipaddr.IPv6.parse(text).toByteArray()) };
}

/** Parses "a.b.c.d/n" or "x::/n"; a bare address is a host prefix. */
export function parseCidr(text: string): Cidr | null {
  const [addrText, prefixText, ...rest] = text.split("/");
  if (addrText === undefined || rest.length > 0) return null;
  const addr = parseAddr(addrText);
  if (!addr) return null;
  const max = bits(addr.family);
  if (prefixText === undefined) return { family: addr.family, base: addr.value, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > max) return null;
  return { family: addr.family, base: addr.value, prefix };
}

export const hostBits = (c: Cidr) => bits(c.family) - c.prefix;
export const networkOf = (c: Cidr): bigint => (c.base >> BigInt(hostBits(c))) << BigInt(hostBits(c));
export const isNetworkAddress = (c: Cidr) => networkOf(c) === c.base;

export function contains(c: Cidr, a: Addr): boolean {
  return c.family === a.family && a.value >> BigInt(hostBits(c)) === c.base >> BigInt(hostBits(c));
}

/**
 * The prefixes of `list` that no other one holds, each once, in their order: the same sources as the
 * whole list. Two prefixes either nest or are apart, so what is left never overlaps (an nftables
 * interval set refuses overlapping elements: "File exists").
 */
export function outermost(list: Cidr[]): Cidr[] {
  return list.filter(
    (c, i) =>
      !list.some(
        (o, j) =>
          o.family === c.family &&
          contains(o, { family: c.family, value: c.base }) &&
          (o.prefix < c.prefix || (o.prefix === c.prefix && j < i)),
      ),
  );
}

/** Usable host offsets: IPv4 skips the network and broadcast addresses; IPv6 skips offset 0. */
export function hostRange(c: Cidr): { first: bigint; last: bigint } {
  const size = 1n << BigInt(hostBits(c));
  return c.family === 4 && size > 2n ? { first: 1n, last: size - 2n } : { first: 1n, last: size - 1n };
}

export function formatAddr(a: Addr): string {
  const len = a.family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = len - 1, v = a.value; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  return ipaddr.fromByteArray(bytes).toString();
}

export const formatCidr = (c: Cidr) => `${formatAddr({ family: c.family, value: c.base })}/${c.prefix}`;

export const addrAt = (c: Cidr, offset: bigint): Addr => ({ family: c.family, value: networkOf(c) + offset });

export const offsetIn = (c: Cidr, a: Addr): bigint => a.value - networkOf(c);

export const isUla = (c: Cidr) => c.family === 6 && c.base >> 121n === 0x7en; // fc00::/7

function bytesToBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
