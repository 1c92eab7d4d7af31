// Stable address allocation: a peer's slot comes from a hash of its name, so adding or removing
// other peers never renumbers it (collisions probe to the next free slot, in list order).
import { type Addr, addrAt, type Cidr, hostRange } from "../net/ip.ts";

function fnv1a(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(text, "utf8")) h = ((h ^ BigInt(ch)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

export function allocateAddresses(
  subnet: Cidr,
  names: (string | undefined)[],
  taken: Set<bigint>,
): (Addr | undefined)[] {
  const { first, last } = hostRange(subnet);
  const size = last - first + 1n;
  const used = new Set(taken);
  const lo = addrAt(subnet, first).value;
  const hi = addrAt(subnet, last).value;
  let free = size - BigInt([...used].filter((v) => v >= lo && v <= hi).length);
  return names.map((name) => {
    if (name === undefined || free <= 0n) return undefined;
    let offset = fnv1a(name) % size;
    for (;;) {
      const a = addrAt(subnet, first + offset);
      if (!used.has(a.value)) {
        used.add(a.value);
        free--;
        return a;
      }
      offset = (offset + 1n) % size;
    }
  });
}
