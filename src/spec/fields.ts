// One spec field's value as a zod schema, for whatever takes the same value from elsewhere: the hub
// API's request bodies (protocol/requests.ts) and the command line's arguments (cli/arg.ts). Each is
// built on the check the spec's own rule runs (the *Problem functions, net/ports.ts, endpoint.ts), so
// what is accepted and the words of a refusal are the same in a spec diagnostic, an API 400 and a
// usage error. (The enums are schema.ts's own: ProtoShape, ModeShape, FirewallShape.) A schema checks
// and does not convert: a value that passes comes out as it went in.
import * as z from "zod";
import { parsePortRange } from "../net/ports.ts";
import { keyProblem } from "../net/wgkey.ts";
import { DEFAULTS, NAME_RE, NAME_RULE } from "./defaults.ts";
import { endpointProblem, parseEndpoint } from "./endpoint.ts";
import { interfaceProblem, publicInterfaceProblem, snatPoolProblem, subnetProblem } from "./hub-rules.ts";
import { allowEntry, forwardNameProblem, nameProblem, portProblem } from "./value-rules.ts";

/**
 * `base`, refused with `problem`'s words (the text after the value) when it gives any; `accepts` says
 * what passes in the API's OpenAPI document (where the check itself cannot be written down).
 */
function refusing<T>(
  base: z.ZodType<T>,
  problem: (value: T) => string | null | undefined,
  accepts: { description: string; pattern?: string },
): z.ZodType<T> {
  return base
    .superRefine((value, ctx) => {
      const why = problem(value);
      if (why) ctx.addIssue({ code: "custom", message: why });
    })
    .meta(accepts);
}

const whole = z.int({ error: "expected a whole number" });

/** hub.name, peers[].name, forwards[].name, forwards[].peer: NAME_RE. */
export const NameField = refusing(z.string(), nameProblem, {
  description: NAME_RULE,
  pattern: NAME_RE.source,
});

/**
 * The name of a forward being made (the API's POST /v1/forwards, `expose --name`, `forward add --name`):
 * NameField, and not digits alone ("8080", "6000-6010"), which `unexpose` reads as a port. A spec's
 * forwards keep NameField: a spec written before this rule still loads (and unexpose finds such a
 * forward by its name when no forward is on that port).
 */
export const ForwardNameField = refusing(z.string(), forwardNameProblem, {
  description: `${NAME_RULE}; not digits alone (8080, 6000-6010: they read as a port)`,
  pattern: `^(?![0-9]+(-[0-9]+)?$)${NAME_RE.source.slice(1)}`,
});

/** hub.listenPort (and sshPort, apiPort): 1-65535, a number or its digits. */
export const PortField = refusing(
  z.union([whole, z.string()], { error: "expected a whole number 1-65535" }),
  portProblem,
  { description: "a port 1-65535" },
);

/** forwards[].port, forwards[].targetPort: a port or a range "6000-6010", a number or text. */
export const PortRangeField = refusing(
  z.union([whole, z.string()]),
  (v) => {
    const r = parsePortRange(v);
    return r.ok ? undefined : r.reason;
  },
  { description: "a port 1-65535 or a range like 6000-6010" },
);

/** forwards[].allowFrom[]: an address or a prefix without host bits. */
export const AllowFromField = refusing(
  z.string(),
  (text) => {
    const entry = allowEntry(text);
    return "problem" in entry ? entry.problem : undefined;
  },
  { description: "an address or a prefix without host bits, like 192.0.2.0/24 or 2001:db8::/32" },
);

/** hub.endpoint: "host", "host:port", "[v6]:port" or a bare IPv6 address. */
export const EndpointField = refusing(
  z.string(),
  (text) => (parseEndpoint(text, DEFAULTS.listenPort) ? undefined : endpointProblem(text)),
  { description: "a host name or IP address, with an optional :port" },
);

/** hub.subnet: an IPv4 prefix without host bits, /30 or larger. */
export const SubnetField = refusing(z.string(), subnetProblem, {
  description: "an IPv4 prefix without host bits, /30 or larger, like 10.8.0.0/24",
});

/** hub.snatPool, or "off" (`hub init --snat-pool`): an IPv4 prefix /4 to /24 outside the special ranges. */
export const SnatPoolField = refusing(z.string(), (t: string) => snatPoolProblem(t), {
  description:
    'an IPv4 prefix /4 to /24 like 240.0.0.0/8, or "off" (snat clients come from the hub\'s address)',
});

/** hub.interface: a Linux interface name. */
export const InterfaceField = refusing(z.string(), interfaceProblem, {
  description: "a Linux interface name: 1-15 letters, digits, '_', '.', '-'",
});

/** hub.publicInterface: "auto" or an interface name. */
export const PublicInterfaceField = refusing(z.string(), publicInterfaceProblem, {
  description: '"auto" or an interface name',
});

/** hub.publicKey, peers[].publicKey: a WireGuard key in base64. */
export const PublicKeyField = refusing(z.string(), keyProblem, {
  description: "a WireGuard key: 32 bytes in base64 (44 characters ending in '=')",
});
