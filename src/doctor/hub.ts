// The hub's checks, in the order doctor reports them.
import type { Check } from "./check.ts";
import { applied } from "./hub-applied.ts";
import type { HubContext } from "./hub-context.ts";
import { apiInput, forwardDrops, ruleset, shadowed, wgPortInput } from "./hub-firewall.ts";
import { forwards } from "./hub-forwards.ts";
import { acceptRa, conntrackFill, ipForward, ipv6Forward, rpFilter } from "./hub-kernel.ts";
import { peers } from "./hub-peers.ts";
import { daemon, endpoint, outside, unit, wireguard } from "./hub-service.ts";
import { specFile } from "./hub-spec.ts";

export const HUB_CHECKS: Check<HubContext>[] = [
  daemon,
  specFile,
  unit,
  wireguard,
  endpoint,
  ipForward,
  ipv6Forward,
  acceptRa,
  rpFilter,
  ruleset,
  wgPortInput,
  apiInput,
  forwardDrops,
  shadowed,
  conntrackFill,
  peers,
  applied,
  forwards,
  outside,
];
