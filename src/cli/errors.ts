// Exit codes (documented in the README and in `porthole --help`).
export const EXIT = {
  ok: 0,
  /** The spec or the input is invalid; nothing was changed. */
  invalid: 1,
  /** Wrong command-line usage. */
  usage: 2,
  /** A command on the host failed; the host was put back as it was. */
  host: 3,
  /** `porthole doctor`: a check failed. */
  failed: 4,
} as const;

/** An error meant for the user: printed without a stack trace, exits with `code`. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.invalid,
  ) {
    super(message);
  }
}
