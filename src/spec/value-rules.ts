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

/** A hub, peer or forward name matches NAME_RE; false (and reported) when not. */
export function checkName(name: string, path: (string | number)[], p: Problems): boolean {
  if (NAME_RE.test(name)) return true;
  p.add(path, `${show(name)} is not a valid name; use ${NAME_RULE}`);
  return false;
}

export function checkPort(port: number, path: (string | number)[], p: Problems) {
  if (port < 1 || port > 65535) p.add(path, `${port} is out of range; accepted: 1-65535`);
}

/** The diagnostic of a prefix written with host bits set, naming the prefix meant. */
export const hostBits = (text: string, c: Cidr) =>
  `${show(text)} has host bits set; did you mean ${formatCidr({ ...c, base: networkOf(c) })}?`;

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
  const c = parseCidr(value);
  if (!c || !value.includes("/")) {
    p.add(
      path,
      `${show(value)} is not a network prefix; expected an address with a prefix length, like ${example}`,
    );
    return undefined;
  }
  if (!isNetworkAddress(c)) {
    p.add(path, hostBits(value, c));
    return undefined;
  }
  return c;
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
