// "PORT[:PROTO]" arguments (expose, unexpose, trace): each part checked by its spec field's schema
// (PortRangeField or PortField, ProtoShape), refused in the part's own words.
import type * as z from "zod";
import { canonicalPort } from "../net/ports.ts";
import { NameField, PortField, PortRangeField } from "../spec/fields.ts";
import { ProtoShape } from "../spec/schema.ts";
import { checkValue } from "../spec/shape.ts";
import type { Proto } from "../spec/types.ts";
import { EXIT, UserError } from "./errors.ts";

/** The protocols after a port ("80:udp"): null when none is given. */
type Protos = { text: z.infer<typeof ProtoShape>; protos: Proto[] } | null;

/** Splits "PORT[:PROTO]" and checks each part with its field's schema; the part's words when refused. */
function portAndProto(text: string, port: z.ZodType<unknown>): { port: string; proto: Protos } | string {
  const [p = "", proto, ...extra] = text.trim().split(":");
  if (extra.length)
    return `${JSON.stringify(text)} is not accepted; give a port with at most one protocol, e.g. 53:udp`;
  const pr = checkValue(port, p);
  if (!pr.ok) return pr.message;
  // "080" is port 80: compared with the hub's forwards and sent as the spec writes it (see canonicalPort).
  const canonical = canonicalPort(p);
  if (proto === undefined) return { port: canonical, proto: null };
  const r = checkValue(ProtoShape, proto);
  if (!r.ok) return `protocol ${r.message}`;
  return {
    port: canonical,
    proto: { text: r.value, protos: r.value === "tcp+udp" ? ["tcp", "udp"] : [r.value] },
  };
}

/**
 * --to, --port, --target-port: a port or range, as the spec writes it ("080" is "80"); exit 2 when bad.
 * A protocol written after the port ("53:udp", as `expose PUBLIC` takes it) is told where it goes:
 * `where.protoOption` (forward add's --proto), else after `where.publicPort` (expose's PUBLIC, as the
 * command to run instead).
 */
export function portRangeArg(
  field: string,
  where: { protoOption: string } | { publicPort: string },
): (text: string) => string {
  return (text) => {
    const r = checkValue(PortRangeField, text);
    if (!r.ok) {
      const [port = "", proto] = text.trim().split(":");
      const rest = proto === undefined ? null : checkValue(ProtoShape, proto);
      if (rest?.ok && checkValue(PortRangeField, port).ok)
        throw new UserError(
          "protoOption" in where
            ? `${field}: ${JSON.stringify(text)}: give the port alone and the protocol with ${where.protoOption}: ${field} ${port} ${where.protoOption} ${rest.value}`
            : `${field}: ${JSON.stringify(text)}: give the port alone; the protocol goes after the public port: \`porthole expose ${where.publicPort}:${rest.value} ${field} ${port}\``,
          EXIT.usage,
        );
      throw new UserError(`${field}: ${r.message}`, EXIT.usage);
    }
    return canonicalPort(text);
  };
}

/** "80", "53:udp", "6000-6010:tcp+udp": a forward's public port or range, and its protocol (tcp when none). */
export function publicPort(
  field: string,
): (text: string) => { port: string; proto: z.infer<typeof ProtoShape> } {
  return (text) => {
    const r = portAndProto(text, PortRangeField);
    if (typeof r === "string") throw new UserError(`${field}: ${r}`, EXIT.usage);
    return { port: r.port, proto: r.proto?.text ?? "tcp" };
  };
}

/** "80", "53:udp", "27015:tcp+udp": one public port, and its protocols (null: none given). */
export function onePort(field: string): (text: string) => { port: number; protos: Proto[] | null } {
  return (text) => {
    const r = portAndProto(text, PortField);
    if (typeof r === "string") throw new UserError(`${field}: ${r}`, EXIT.usage);
    return { port: Number(r.port), protos: r.proto?.protos ?? null };
  };
}

/** What `unexpose` removes: a public port (with an optional protocol), or a forward by name. */
export type PortOrName = { port: string; proto: z.infer<typeof ProtoShape> | null } | { name: string };

/**
 * "80", "80:udp", "6000-6010" (anything that starts like a port: digits, then "-digits" or ":") is a
 * public port and must be a valid one; anything else is a forward's name.
 */
export function portOrName(field: string): (text: string) => PortOrName {
  return (text) => {
    const t = text.trim();
    if (/^\d+(-\d+)?(:|$)/.test(t)) {
      const r = portAndProto(t, PortRangeField);
      if (typeof r === "string") throw new UserError(`${field}: ${r}`, EXIT.usage);
      return { port: r.port, proto: r.proto?.text ?? null };
    }
    const r = checkValue(NameField, t);
    if (!r.ok)
      throw new UserError(`${field}: ${r.message}; or give a public port, e.g. 80 or 53:udp`, EXIT.usage);
    return { name: t };
  };
}
