// Checks of single values that the hub, peer and forward rules share: names, ports, network prefixes and
// host addresses, each reported with the value and what is accepted.
import {
  type Addr,
  type Cidr,
  contains,
  formatCidr,
  hostRange,
  isNetworkAddress,
  networkOf,
  offsetIn,
  parseAddr,
  parseCidr,
} from "../net/ip.ts";
import { NAME_RE, NAME_RULE } from "./defaults.ts";
import { type Problems, show } from "./diagnostics.ts";

/** A name as it appears in a message: bare when valid, else quoted (so a line stays one line). */
export const showName = (n: string) => (NAME_RE.test(n) ? n : show(n));

// The *Problem functions give the text of a diagnostic after the value (undefined: accepted); the
// spec's rules and the field schemas of fields.ts both word a refusal with them.

/** Why `name` is not a hub, peer or forward name (NAME_RE), or undefined. */
export const nameProblem = (name: string) =>
  NAME_RE.test(name) ? undefined : `is not a valid name; use ${NAME_RULE}`;

/** Text that `porthole unexpose` takes for a public port: digits, or a range of them ("8080", "6000-6010"). */
export const PORT_LIKE = /^\d+(-\d+)?$/;

/**
 * Why `name` is not a name for a new forward, or undefined: a valid name (nameProblem) that does not
 * read as a port (PORT_LIKE), since `unexpose 8080` means the public port 8080.
 */
export const forwardNameProblem = (name: string) =>
  nameProblem(name) ??
  (PORT_LIKE.test(name)
    ? `reads as a port (\`porthole unexpose ${name}\` means public port ${name}); give a name with a letter, e.g. web-${name}`
    : undefined);

/** A hub, peer or forward name matches NAME_RE; false (and reported) when not. */
export function checkName(name: string, path: (string | number)[], p: Problems): boolean {
  const why = nameProblem(name);
  if (why) p.add(path, `${show(name)} ${why}`);
  return !why;
}

/** Why `port` (a number, or its digits as text) is not a port 1-65535, or undefined. */
export function portProblem(port: number | string): string | undefined {
  const n = typeof port === "number" ? port : /^\d+$/.test(port.trim()) ? Number(port) : Number.NaN;
  if (Number.isNaN(n)) return "is not accepted; expected a whole number 1-65535";
  return n < 1 || n > 65535 ? "is out of range; accepted: 1-65535" : undefined;
}

export function checkPort(port: number, path: (string | number)[], p: Problems) {
  const why = portProblem(port);
  if (why) p.add(path, `${show(port)} ${why}`);
}

/** The diagnostic of a prefix written with host bits set, naming the prefix meant (after the value). */
export const hostBits = (c: Cidr) =>
  `has host bits set; did you mean ${formatCidr({ ...c, base: networkOf(c) })}?`;

/**
 * Sources no client's packet carries to the hub: loopback and multicast. An allow-list entry inside one
 * admits nobody (the hub's own clients reach a forward from its public address, not loopback).
 */
const NEVER_SOURCES = [
  ["127.0.0.0/8", "loopback"],
  ["224.0.0.0/4", "multicast"],
  ["::1/128", "loopback"],
  ["ff00::/8", "multicast"],
].map(([t, what]) => ({ cidr: parseCidr(t as string) as Cidr, what: what as string }));

/** An allowFrom entry: an address or a prefix without host bits that a client can come from, or why it is not. */
export function allowEntry(text: string): { cidr: Cidr } | { problem: string } {
  const c = parseCidr(text);
  if (!c) return { problem: "is not an address or prefix; expected e.g. 192.0.2.0/24 or 2001:db8::/32" };
  if (!isNetworkAddress(c)) return { problem: hostBits(c) };
  const never = NEVER_SOURCES.find(
    (n) =>
      n.cidr.family === c.family &&
      c.prefix >= n.cidr.prefix &&
      contains(n.cidr, { family: c.family, value: c.base }),
  );
  if (never)
    return {
      problem: `is ${never.what} (inside ${formatCidr(never.cidr)}): no client's packets come from it, so it admits nobody; list the clients' public addresses`,
    };
  return { cidr: c };
}

/** Why `value` is not a network prefix without host bits (like `example`), or undefined. */
export function cidrProblem(value: string, example: string): string | undefined {
  const c = parseCidr(value);
  if (!c || !value.includes("/"))
    return `is not a network prefix; expected an address with a prefix length, like ${example}`;
  return isNetworkAddress(c) ? undefined : hostBits(c);
}

/** `text` (or `fallback`) as a network prefix without host bits; undefined (reported) when not. */
export function checkCidr(
  text: string | undefined,
  fallback: string | undefined,
  path: (string | number)[],
  p: Problems,
  example: string,
) {
  const value = text ?? fallback;
  if (value === undefined) return undefined;
  const why = cidrProblem(value, example);
  if (why) p.add(path, `${show(value)} ${why}`);
  return why ? undefined : (parseCidr(value) as Cidr);
}

/** `text` as a host address inside `subnet` (not its network or broadcast address); undefined (reported) when not. */
export function checkHostAddr(
  text: string,
  subnet: Cidr,
  path: (string | number)[],
  p: Problems,
  what: string,
): Addr | undefined {
  const a = parseAddr(text);
  if (!a) {
    p.add(path, `${show(text)} is not an IPv${subnet.family} address`);
    return undefined;
  }
  const r = hostRange(subnet);
  if (!contains(subnet, a)) {
    p.add(path, `${show(text)} is outside ${what} ${formatCidr(subnet)}`);
  } else if (offsetIn(subnet, a) < r.first || offsetIn(subnet, a) > r.last) {
    p.add(
      path,
      `${show(text)} is the network or broadcast address of ${formatCidr(subnet)}; pick a host address`,
    );
  } else return a;
  return undefined;
}
