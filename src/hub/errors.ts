// What can go wrong in a request to the hub, in the domain's terms. HubService throws these; hub/api.ts
// alone turns them into HTTP status codes (errors.ts knows nothing of HTTP).
import type { FieldProblem } from "../protocol/responses.ts";

/**
 * A request the hub refuses; `field` names the part of the request it is about, when there is one.
 * `problems`: each refused field apart (the message is them joined, "port: …; targetPort: …"); by
 * default the one field, when the message starts with its name ("port: 22 is …").
 */
export class HubError extends Error {
  readonly problems?: FieldProblem[];
  constructor(
    message: string,
    readonly field?: string,
    problems?: FieldProblem[],
  ) {
    super(message);
    const own = field !== undefined && message.startsWith(`${field}: `);
    this.problems = problems ?? (own ? [{ field, message: message.slice(field.length + 2) }] : undefined);
  }
}

/** The thing asked about does not exist, or is not the caller's to see (the same answer for both). */
export class NotFound extends HubError {}
/** The caller may not do this (not an admin; a quota only an admin may exceed). */
export class Forbidden extends HubError {}
/** The request clashes with the current state (a name taken, a token used already). */
export class Conflict extends HubError {}
/** The request itself is wrong: a field's value is not accepted. */
export class Invalid extends HubError {}
/** The thing existed but is gone for good (an expired or forgotten join token). */
export class Gone extends HubError {}
