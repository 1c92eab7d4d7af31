// The public ports a forward may never take: the hub's own (WireGuard, SSH, hub.reservedPorts), each with why.
import { formatRange, overlaps, type PortRange } from "../net/ports.ts";
import { type Problems, show } from "./diagnostics.ts";
import type { Hub, Proto } from "./types.ts";

/** A public port range the hub keeps for itself: for which protocols, and why (the rest of a diagnostic). */
export interface ReservedPort {
  protos: Proto[];
  range: PortRange;
  why: string;
}

/** The public ports a forward may never take: the WireGuard port, SSH, and hub.reservedPorts, each with why. */
export function hubReservedPorts(hub: Hub): ReservedPort[] {
  const one = (port: number): PortRange => ({ from: port, to: port });
  return [
    {
      protos: ["udp"],
      range: one(hub.listenPort),
      why: "the hub's WireGuard listen port; pick another public port",
    },
    {
      protos: ["tcp"],
      range: one(hub.sshPort),
      why: "the hub's SSH port; pick another public port (or set hub.sshPort if SSH listens elsewhere)",
    },
    ...hub.reservedPorts.map((range) => ({
      protos: ["tcp", "udp"] as Proto[],
      range,
      why: `reserved for the hub's own services (hub.reservedPorts${range.from === range.to ? "" : `: ${formatRange(range)}`}); pick another public port`,
    })),
  ];
}

/** A public port is none the hub keeps for itself (WireGuard, SSH, hub.reservedPorts). */
export function checkReservedPorts(
  reserved: ReservedPort[],
  port: string | number,
  range: PortRange,
  protos: Proto[],
  at: (field: string) => (string | number)[],
  p: Problems,
): void {
  for (const r of reserved) {
    if (!r.protos.some((x) => protos.includes(x)) || !overlaps(range, r.range)) continue;
    const first = Math.max(range.from, r.range.from);
    const verb = range.from === range.to ? "is" : `includes ${first},`;
    p.add(at("port"), `${show(port)} ${verb} ${r.why}`);
  }
}
