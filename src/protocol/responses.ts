// What the hub's API answers, as zod schemas and types both sides use: the hub builds these, the CLI
// and the peer parse them (src/protocol/client.ts), so a reply that does not match is an error naming
// the route, not an undefined field later. Objects are not strict: a newer hub may add fields.
import * as z from "zod";

// "Reachable from the outside": the hub cannot see its provider's cloud firewall from inside, so it
// asks a connected peer to probe its public address over the peer's own internet path. The task
// travels in the peer's next whoami answer (the agent polls every 2 s), the report comes back as
// POST /v1/probes/ID (requests.ts); both through the tunnel, identified like every other request.
const port = z.int().min(1).max(65535);

/** One public port to probe: the hub's WireGuard port, or a forward's (the first port of a range). */
export const ProbeTarget = z.object({
  proto: z.enum(["tcp", "udp"]),
  port,
  /** "wireguard": the hub's own port; else the forward's name. */
  what: z.string(),
});
export type ProbeTarget = z.infer<typeof ProbeTarget>;

/** In a whoami answer: probe `host` (the hub's endpoint, a name or an address) at these ports. */
export const ProbeTask = z.object({
  id: z.string(),
  host: z.string(),
  targets: z.array(ProbeTarget).max(64),
});
export type ProbeTask = z.infer<typeof ProbeTask>;

/** A forward as the API shows it (GET/POST/DELETE /v1/forwards). */
export const ForwardView = z.object({
  name: z.string(),
  /** "tcp", "udp" or "tcp+udp". */
  proto: z.string(),
  /** Public port or range on the hub, e.g. "80" or "6000-6010". */
  port: z.string(),
  peer: z.string(),
  targetPort: z.string(),
  mode: z.enum(["snat", "transparent"]),
  /** Sources allowed to connect (empty: everyone). */
  allowFrom: z.array(z.string()),
});
export type ForwardView = z.infer<typeof ForwardView>;

/** GET /v1/whoami: who the hub takes the caller for; a peer also gets the hash of its view of the spec. */
export const WhoamiReply = z.object({
  kind: z.enum(["root", "peer", "enrolling"]),
  name: z.string().optional(),
  admin: z.boolean().optional(),
  /** The hash of the spec as this caller sees it (not while enrolling): fetch the spec when it changes. */
  specHash: z.string().optional(),
  /** A reachability probe the hub asks this peer to make (see reachability.ts). */
  probe: ProbeTask.optional(),
  /**
   * What the hub has on record of this peer's last apply (POST /v1/applied): its spec hash and error
   * (null: it succeeded); null: no report since the hub started, so the agent reports again. Absent
   * from hubs that take no reports (an agent then sends none).
   */
  applied: z.object({ specHash: z.string(), error: z.string().nullable() }).nullable().optional(),
});
export type WhoamiReply = z.infer<typeof WhoamiReply>;

/**
 * What the hub knows of an agent peer's side of the spec (its agent reports each apply: POST
 * /v1/applied), judged against the spec the hub serves it now. The hub's probe of a target comes from
 * the hub's own tunnel address; clients reach an agent peer from the SNAT pool, through routes and
 * allowed IPs that only the peer's apply puts there: so only "current" lets a forward read working.
 */
export const PeerApplied = z.object({
  state: z.enum(["current", "failed", "behind", "unreported", "silent"]).meta({
    description:
      "current: applied the spec the hub serves it now; failed: its apply of that spec failed; behind: its last report is of another spec; unreported: its agent polls but does not report (older than the hub); silent: its agent has not been heard since the hub started",
  }),
  specHash: z.string().meta({ description: "The hash of the spec the hub serves this peer now." }),
  lastApplied: z
    .object({ specHash: z.string(), at: z.string() })
    .nullable()
    .meta({ description: "Its latest apply that succeeded (at: the peer's clock); null: none reported." }),
  lastError: z
    .object({ specHash: z.string(), at: z.string(), error: z.string() })
    .nullable()
    .meta({ description: "Its latest apply, when that failed; null: it did not." }),
  agentSeenSecondsAgo: z.number().nullable().meta({
    description: "Seconds since its agent last asked the hub (every 2 s); null: not since the hub started.",
  }),
  note: z.string().meta({ description: "The state in words, with where to look." }),
  forwardsChanged: z.array(z.string()).nullable().optional().meta({
    description:
      "Its forwards whose part of the spec differs between the spec it runs (its last success) and the one the hub serves it: only these are not known to be in step; the others keep the probe's judgement. []: current. null (and absent, from older hubs): not known which (the hub does not know what that spec held, e.g. after its restart, or the peer's own settings changed): every forward of it.",
  }),
});
export type PeerApplied = z.infer<typeof PeerApplied>;

/**
 * GET /v1/peers, and each of GET /v1/status's `peers`: a peer as the hub sees it (the wire form of
 * protocol/status.ts PeerStatus, which a unit test keeps equal). What the hub could not read is null,
 * never a made-up false or 0.
 */
export const PeerStatusReply = z.looseObject({
  name: z.string(),
  address: z.string(),
  online: z.boolean().nullable().meta({
    description:
      "A handshake within the last 180 s. null: not known, the hub's WireGuard interface is down (its handshakes cannot be read); older hubs said false.",
  }),
  handshakeAgeSeconds: z.number().nullable().meta({
    description: "Seconds since the latest handshake; null: none yet, or online null.",
  }),
  receivedSecondsAgo: z.number().nullable().optional().meta({
    description:
      "Seconds since the hub last saw the peer's received bytes grow (watched every 2 s; a peer sends at least every `keepalive` s, so longer than max(30, keepalive + 5) means the tunnel carries nothing, even while online). Never seen growing: how long the hub has watched it, once at least 30 s. null: not known yet, or nothing ever received (rxBytes 0: status says never). Absent from older hubs.",
  }),
  keepalive: z.number().optional().meta({
    description:
      "The peer's PersistentKeepalive as the spec has it, seconds: it sends at least this often; 0: off (an idle peer sends nothing). Absent from older hubs: 25.",
  }),
  endpoint: z.string().nullable(),
  rxBytes: z.number().nullable().meta({
    description: "Bytes received from the peer; null: online null, or the peer is not on the interface.",
  }),
  txBytes: z.number().nullable().meta({
    description: "Bytes sent to the peer; null: online null, or the peer is not on the interface.",
  }),
  admin: z.boolean(),
  kind: z.string().meta({ description: '"agent" (runs porthole) or "device" (a wg-quick config).' }),
  applied: PeerApplied.nullable().optional().meta({
    description:
      "An agent peer's side of the spec as its agent reported it. null: a device (no agent: not judged); absent: a hub that takes no reports (no daemon, or older).",
  }),
});
export type PeerStatusReply = z.infer<typeof PeerStatusReply>;

/** POST /v1/peers: the peer's address, and its private key when the hub made it (shown once). */
export const AddPeerReply = z.object({
  name: z.string(),
  address: z.string(),
  privateKey: z.string().optional(),
});
export type AddPeerReply = z.infer<typeof AddPeerReply>;

/** DELETE /v1/peers/NAME: the forwards removed with the peer, or that a pending token was revoked. */
export const RemovePeerReply = z.object({
  removedForwards: z.array(z.string()),
  revokedToken: z.boolean().optional(),
});
export type RemovePeerReply = z.infer<typeof RemovePeerReply>;

/** GET /v1/tokens: join tokens not used yet; `expires` is ISO 8601. */
export const PendingTokenView = z.object({
  name: z.string(),
  admin: z.boolean(),
  expires: z.string(),
  expired: z.boolean(),
});
export type PendingTokenView = z.infer<typeof PendingTokenView>;

/** POST /v1/tokens: the token (works once) and when it expires (ISO 8601). */
export const CreateTokenReply = z.object({ token: z.string(), expires: z.string() });
export type CreateTokenReply = z.infer<typeof CreateTokenReply>;

/** POST /v1/enroll: the new peer's name and address, and its view of the spec (YAML text). */
export const EnrollReply = z.object({
  name: z.string(),
  address: z.string(),
  spec: z.string(),
  peers: z.number().optional(),
});
export type EnrollReply = z.infer<typeof EnrollReply>;

/** POST /v1/apply: whether anything changed, and one line per change. */
export const ApplyReply = z.object({
  changed: z.boolean(),
  lines: z.array(z.string()),
  /** Drops in other owners' firewalls porthole cannot override, with their fixes (older hubs: absent). */
  warnings: z.array(z.string()).optional(),
});
export type ApplyReply = z.infer<typeof ApplyReply>;

/** GET /v1/requests/ID: what became of a change sent with that x-request-id (and, once done, its answer). */
export const RequestStateReply = z.object({
  state: z.string(),
  status: z.number().optional(),
  body: z.unknown().optional(),
});
export type RequestStateReply = z.infer<typeof RequestStateReply>;

/**
 * One refused field of a request: `field` as the request names it ("port", "allowFrom[1]"), `message`
 * the words after it ('22 is the hub\'s SSH port; …'). A client says it in its own terms: the CLI names
 * the argument that set the field (`porthole expose`'s PUBLIC for "port").
 */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * An error answer: the message, the request field it is about when there is one, and each refused
 * field apart (`error` is them joined: "port: …; targetPort: …").
 */
export interface ErrorReply {
  error: string;
  field?: string;
  problems?: FieldProblem[];
}

/** POST /v1/reachability. */
export const ReachabilityFinding = z.object({
  proto: z.enum(["tcp", "udp"]),
  port,
  what: z.string(),
  status: z.enum(["ok", "warn", "fail", "unknown"]),
  found: z.string(),
  fix: z.string().optional(),
});
export type ReachabilityFinding = z.infer<typeof ReachabilityFinding>;

/** The answer: which peer probed (null: none could), and one finding per port. */
export const ReachabilityReply = z.object({
  peer: z.string().nullable(),
  address: z.string().nullable(),
  findings: z.array(ReachabilityFinding),
  /** Why no port could be judged, when none could. */
  note: z.string().optional(),
});
export type ReachabilityReply = z.infer<typeof ReachabilityReply>;
