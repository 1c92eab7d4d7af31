// The bodies the hub's API accepts, as zod schemas: the one definition the API validates against and
// callers (CLI, peer agent) build from. Unknown fields are refused, so a typo is an error, not a no-op.
// A field that is a spec field's value is checked by that field's schema (spec/fields.ts, the enums of
// spec/schema.ts): refused in the spec's words. What depends on the hub's state (is this name free,
// is this port forwardable) is the hub's to check.
import * as z from "zod";
import { formatPath } from "../spec/diagnostics.ts";
import {
  AllowFromField,
  ForwardNameField,
  NameField,
  PortRangeField,
  PublicKeyField,
} from "../spec/fields.ts";
import { ModeShape, ProtoShape } from "../spec/schema.ts";
import { checkShape } from "../spec/shape.ts";

const text = z.string().min(1, { error: "expected text" });

/** POST /v1/peers: add a peer directly (an existing key, or a device whose key the hub makes). */
export const AddPeerRequest = z.strictObject({
  name: NameField,
  admin: z.boolean().optional(),
  device: z.boolean().optional(),
  publicKey: PublicKeyField.optional(),
});

/** POST /v1/tokens: a one-time join token for a new peer. */
export const CreateTokenRequest = z.strictObject({
  name: NameField,
  admin: z.boolean().optional(),
  /** Seconds until the token expires: 60 to 604800 (a week); 3600 when left out. */
  expiresSeconds: z
    .int({ error: "expected a whole number of seconds" })
    .min(60, { error: "expected 60 to 604800 seconds (1m to 7d)" })
    .max(7 * 86400, { error: "expected 60 to 604800 seconds (1m to 7d)" })
    .optional(),
});

/** POST /v1/enroll: a new peer, through its enrollment tunnel, registers its own public key. */
export const EnrollRequest = z.strictObject({ token: text, publicKey: PublicKeyField });

/** POST /v1/forwards: a public port of the hub to a port of a peer (as in the spec's forwards). */
export const AddForwardRequest = z.strictObject({
  name: ForwardNameField.optional(),
  proto: ProtoShape.optional(),
  port: PortRangeField,
  targetPort: PortRangeField.optional(),
  /** Which peer receives the traffic: the caller itself when left out (only admins name another). */
  peer: NameField.optional(),
  mode: ModeShape.optional(),
  allowFrom: z.array(AllowFromField).optional(),
  /** Take the public port even though a service on the hub listens on it (admins only). */
  shadowHubService: z.boolean().optional(),
});

const port = z.int().min(1).max(65535);

/**
 * How a peer's probe of one public port ended: a TCP connect open, refused, timeout, unreachable or
 * error (failed on the peer itself: `error` names it); a UDP datagram sent; skipped.
 */
export const PROBE_RESULTS = [
  "open",
  "refused",
  "timeout",
  "unreachable",
  "error",
  "sent",
  "skipped",
] as const;

/** POST /v1/probes/ID: what the peer saw. */
export const ProbeReport = z.strictObject({
  /** The hub's public address as the peer resolved it (null: it did not resolve). */
  address: z.string().nullable(),
  /** The interface the peer's route to it takes: the probe is over the internet only when it is not the tunnel. */
  via: z.string().nullable(),
  /** The peer's own tunnel: its last handshake with the hub (seconds ago) and the endpoint it used. */
  handshake: z.strictObject({ ageS: z.int().min(0), endpoint: z.string().nullable() }).nullable(),
  results: z
    .array(
      z.strictObject({
        proto: z.enum(["tcp", "udp"]),
        port,
        result: z.enum(PROBE_RESULTS),
        /** Result "error": the error as Node names it ("EMFILE"). Sent only then (hubs before it refuse the key). */
        error: z.string().max(64).optional(),
      }),
    )
    .max(64),
  /** Why nothing was probed, when nothing was. */
  error: z.string().optional(),
});
export type ProbeReport = z.infer<typeof ProbeReport>;

/** A spec's hash as hub and peer compare it (protocol/spec-hash.ts): 16 hex digits. */
const SpecHashField = z.string().regex(/^[0-9a-f]{16}$/, { error: "expected 16 hex digits (a spec hash)" });
const when = z.iso.datetime({ offset: true, error: "expected an ISO 8601 time" });

/**
 * POST /v1/applied: what a peer's agent (or `porthole expose`) last applied of the spec the hub serves
 * it. `specHash`: the hash of the spec text that apply was of; `at`: when it ended (the peer's clock);
 * `error`: why it failed (the host was put back as it was), null: it succeeded; `lastApplied`: its
 * latest apply that succeeded, null: none since the agent started (the hub keeps what it knew).
 */
export const AppliedReport = z.strictObject({
  specHash: SpecHashField,
  at: when,
  error: z.string().max(2000).nullable(),
  lastApplied: z.strictObject({ specHash: SpecHashField, at: when }).nullable(),
});
export type AppliedReport = z.infer<typeof AppliedReport>;

/** POST /v1/reachability (admins and root): probe from this peer, or from the one that shook hands last. */
export const ReachabilityRequest = z.strictObject({ peer: NameField.optional() });
export type ReachabilityRequest = z.infer<typeof ReachabilityRequest>;

export type AddPeerRequest = z.infer<typeof AddPeerRequest>;
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;
export type EnrollRequest = z.infer<typeof EnrollRequest>;
export type AddForwardRequest = z.infer<typeof AddForwardRequest>;

export type Checked<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

/**
 * Checks a request body against its schema. The first problem comes back as "field: value is not
 * accepted; what is" (the spec's diagnostics), with the field's path ("allowFrom[0]").
 */
export function checkRequest<T>(schema: z.ZodType<T>, body: unknown): Checked<T> {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    return { ok: false, field: "", message: "the request body must be a JSON object" };
  const r = checkShape(schema, body, []);
  const first = r.problems[0];
  if (!first) return { ok: true, value: r.value as T };
  const field = formatPath(first.path);
  return { ok: false, field, message: `${field}: ${first.message}` };
}
