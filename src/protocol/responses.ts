// What the hub's API answers, as types both sides use (the hub builds these; CLI and peer read them).

/** A forward as the API shows it (GET/POST/DELETE /v1/forwards). */
export interface ForwardView {
  name: string;
  /** "tcp", "udp" or "tcp+udp". */
  proto: string;
  /** Public port or range on the hub, e.g. "80" or "6000-6010". */
  port: string;
  peer: string;
  targetPort: string;
  mode: "snat" | "transparent";
  /** Sources allowed to connect (empty: everyone). */
  allowFrom: string[];
}

/** An error answer: the message, and the request field it is about when there is one. */
export interface ErrorReply {
  error: string;
  field?: string;
}
