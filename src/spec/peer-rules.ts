// The peers' rules: names, keys, keepalive, and addresses (explicit ones claimed once, the rest allocated).
import { type Addr, addrAt, type Cidr, contains, formatAddr, formatCidr, offsetIn } from "../net/ip.ts";
import { keyProblem } from "../net/wgkey.ts";
import { allocateAddresses } from "./allocate.ts";
import { DEFAULTS } from "./defaults.ts";
import { type Problems, show } from "./diagnostics.ts";
import { inPool6 } from "./hub-rules.ts";
import type { PeerShape } from "./schema.ts";
import type { Hub, Peer } from "./types.ts";
import { checkHostAddr, checkName } from "./value-rules.ts";

/** The peers: unique names and keys, keepalive, addresses claimed once or allocated from hub.subnet. */
export function checkPeers(
  hub: Hub,
  inputs: (ReturnType<typeof PeerShape.parse> | undefined)[],
  p: Problems,
): Peer[] {
  const names = new Map<string, number>();
  const keys = new Map<string, string>([[hub.publicKey, "hub.publicKey"]]);
  const explicit: (Addr | undefined)[] = [];
  const explicit6: (Addr | undefined)[] = [];
  const taken = new Map<bigint, string>([[hub.address.value, "hub.address"]]);
  const taken6 = new Map<bigint, string>(hub.address6 ? [[hub.address6.value, "hub.address6"]] : []);

  inputs.forEach((peer, i) => {
    if (!peer) return;
    const at = (f: string) => ["peers", i, f];
    if (checkName(peer.name, at("name"), p)) {
      if (peer.name === hub.name) p.add(at("name"), `${show(peer.name)} is the hub's name; pick another`);
      else if (names.has(peer.name))
        p.add(at("name"), `${show(peer.name)} is already used by peers[${names.get(peer.name)}]`);
      else names.set(peer.name, i);
    }

    const kp = keyProblem(peer.publicKey);
    if (kp) p.add(at("publicKey"), `${show(peer.publicKey)} ${kp}`);
    else if (keys.has(peer.publicKey))
      p.add(at("publicKey"), `is the same key as ${keys.get(peer.publicKey)}; each peer needs its own key`);
    else keys.set(peer.publicKey, `peers[${i}].publicKey`);

    const ka = peer.keepalive ?? DEFAULTS.keepalive;
    if (ka < 0 || ka > 65535)
      p.add(at("keepalive"), `${ka} is out of range; accepted: 0 (off) to 65535 seconds`);

    explicit[i] = claim(
      peer.address,
      hub.subnet,
      "hub.subnet",
      at("address"),
      taken,
      `peers[${i}].address`,
      p,
    );
    if (peer.address6 !== undefined && !hub.subnet6) p.add(at("address6"), "needs hub.subnet6");
    else if (hub.subnet6) {
      explicit6[i] = claim(
        peer.address6,
        hub.subnet6,
        "hub.subnet6",
        at("address6"),
        taken6,
        `peers[${i}].address6`,
        p,
      );
      const a6 = explicit6[i];
      if (a6 && peer.address6 && hub.snatPool6 && contains(hub.snatPool6, a6))
        p.add(at("address6"), inPool6(peer.address6, hub.snatPool6));
    }
  });

  const wanted = inputs.map((peer) => (peer && !peer.address ? peer.name : undefined));
  const allocated = allocateAddresses(hub.subnet, wanted, new Set(taken.keys()));
  const out: Peer[] = [];
  inputs.forEach((peer, i) => {
    if (!peer) return;
    const address = explicit[i] ?? allocated[i];
    if (!address) {
      if (!peer.address)
        p.add(["peers", i, "address"], `no free address left in ${formatCidr(hub.subnet)}; widen hub.subnet`);
      return;
    }
    let address6 = explicit6[i];
    if (hub.subnet6 && !address6 && !peer.address6) {
      address6 = addrAt(hub.subnet6, offsetIn(hub.subnet, address));
      const owner = taken6.get(address6.value);
      if (owner)
        p.add(
          ["peers", i, "address6"],
          `${formatAddr(address6)} (derived from ${formatAddr(address)}) is taken by ${owner}; set it explicitly`,
        );
    }
    out.push({
      name: peer.name,
      publicKey: peer.publicKey,
      address,
      address6,
      keepalive: peer.keepalive ?? DEFAULTS.keepalive,
      admin: peer.admin ?? false,
      kind: peer.kind ?? "agent",
    });
  });
  return out;
}

/** `text` as a host address of `subnet` that nothing else has taken yet; recorded in `taken` as `owner`. */
function claim(
  text: string | undefined,
  subnet: Cidr,
  what: string,
  path: (string | number)[],
  taken: Map<bigint, string>,
  owner: string,
  p: Problems,
): Addr | undefined {
  if (text === undefined) return undefined;
  const a = checkHostAddr(text, subnet, path, p, what);
  if (!a) return undefined;
  const prev = taken.get(a.value);
  if (prev) {
    p.add(path, `${show(text)} is already taken by ${prev}`);
    return undefined;
  }
  taken.set(a.value, owner);
  return a;
}
