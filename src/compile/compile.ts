// Spec + host name -> HostPlan. Pure: no I/O, no clock, no randomness.

import {
  type Enrolling,
  type FirewallPlan,
  type HostPlan,
  type PlannedFile,
  TRANSPARENT,
} from "../plan/plan.ts";
import type { Spec } from "../spec/types.ts";
import { hubIptables, peerIptables } from "./iptables.ts";
import { hubNftables, peerNftables } from "./nftables.ts";
import { renderSysctl, SYSCTL_FILE } from "./render.ts";
import { systemdUnit, unitName } from "./systemd.ts";
import { expandTargets } from "./targets.ts";
import { hubWireguard, peerWireguard } from "./wireguard.ts";

export class UnknownHostError extends Error {}

export function hostNames(spec: Spec): string[] {
  return [spec.hub.name, ...spec.peers.map((p) => p.name)];
}

export interface CompileOptions {
  /**
   * Where the host keeps its private key (wg-quick's PostUp loads it from there); without it,
   * porthole's default on that host (KEY_FILE). Only the machine itself knows: give it for this one.
   */
  keyFile?: string;
  /** Pending enrollment keys (hub only). */
  enrolling?: Enrolling[];
  /** How the host's systemd unit starts porthole; without it the plan has no unit file. */
  unit?: UnitOptions;
}

export interface UnitOptions {
  /** The command that runs porthole ("/usr/local/bin/porthole"). */
  bin: string;
  /** Environment=… lines (PORTHOLE_CONFIG_DIR and the like). */
  env?: Record<string, string>;
  /** "oneshot" re-applies the saved state at boot; "daemon" runs `porthole hub|peer run`. */
  kind?: "oneshot" | "daemon";
}

export function compile(spec: Spec, host: string, opts: CompileOptions = {}): HostPlan {
  const plan = compileHost(spec, host, opts.enrolling ?? []);
  const device = spec.peers.some((p) => p.name === plan.host && p.kind === "device");
  if (device) plan.wireguard.privateKeyFile = "";
  else if (opts.keyFile) plan.wireguard.privateKeyFile = opts.keyFile;
  return { ...plan, files: plannedFiles(plan, opts.unit) };
}

/** The sysctl file (null content: not needed, removed) and, when asked for, the systemd unit. */
function plannedFiles(plan: Omit<HostPlan, "files">, unit: UnitOptions | undefined): PlannedFile[] {
  const sysctl = Object.keys(plan.sysctl).length ? renderSysctl(plan.sysctl) : null;
  const files: PlannedFile[] = [
    { path: `/etc/sysctl.d/${SYSCTL_FILE}`, content: sysctl, mode: 0o644, purpose: "sysctl" },
  ];
  if (unit)
    files.push({
      path: `/etc/systemd/system/${unitName(plan.role)}`,
      content: systemdUnit(plan.role, plan.host, unit.bin, unit.env, unit.kind),
      mode: 0o644,
      purpose: "unit",
    });
  return files;
}

function compileHost(spec: Spec, host: string, enrolling: Enrolling[]): Omit<HostPlan, "files"> {
  const { hub } = spec;
  if (host === hub.name || host === "hub") {
    // Only the chosen backend is compiled: with 10,000 forwards each one is a noticeable cost.
    const nft = hub.firewall === "nftables";
    const targets = expandTargets(spec);
    const ipt = nft ? { 4: "", 6: "", hooks: [] } : hubIptables(spec, targets, enrolling);
    const sysctl: Record<string, string> = { "net.ipv4.ip_forward": "1" };
    if (hub.subnet6) sysctl["net.ipv6.conf.all.forwarding"] = "1";
    return {
      host: hub.name,
      role: "hub",
      wireguard: hubWireguard(spec, enrolling),
      firewall: firewall(hub.firewall, nft ? hubNftables(spec, targets, enrolling) : null, ipt),
      sysctl,
      targets,
    };
  }
  const peer = spec.peers.find((p) => p.name === host);
  if (!peer)
    throw new UnknownHostError(`no host named "${host}"; known hosts: ${hostNames(spec).join(", ")}`);
  const transparent =
    peer.kind === "agent" && spec.forwards.some((f) => f.peer === peer.name && f.mode === "transparent");
  if (!transparent) {
    return {
      host: peer.name,
      role: "peer",
      wireguard: peerWireguard(spec, peer, false),
      firewall: firewall(hub.firewall, null, { 4: "", 6: "", hooks: [] }),
      sysctl: {},
      targets: [],
    };
  }
  const families: (4 | 6)[] = peer.address6 ? [4, 6] : [4];
  const ipt = hub.firewall === "iptables" ? peerIptables(spec, families) : { 4: "", 6: "", hooks: [] };
  // Loose reverse-path filtering on the tunnel: clients' addresses arrive there but route via the internet.
  const sysctl: Record<string, string> = { [`net.ipv4.conf.${hub.interface}.rp_filter`]: "2" };
  return {
    host: peer.name,
    role: "peer",
    wireguard: peerWireguard(spec, peer, true),
    firewall: firewall(hub.firewall, hub.firewall === "nftables" ? peerNftables(spec) : null, ipt),
    sysctl,
    targets: [],
    routing: { ...TRANSPARENT, families, device: hub.interface },
  };
}

function firewall(
  backend: FirewallPlan["backend"],
  nft: FirewallPlan["nft"],
  ipt: ReturnType<typeof hubIptables>,
): FirewallPlan {
  return backend === "nftables"
    ? { backend, nft, iptables: { 4: "", 6: "" }, hooks: [] }
    : { backend, nft: null, iptables: { 4: ipt[4], 6: ipt[6] }, hooks: ipt.hooks };
}
