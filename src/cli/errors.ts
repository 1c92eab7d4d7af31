// Exit codes: the contract every command keeps (documented in the README and in `porthole --help`;
// test/unit/cli-exit-codes.test.ts runs commands of each side into each case).
export const EXIT = {
  ok: 0,
  /** The spec or the input is invalid, or the hub refused the request; nothing was changed. */
  invalid: 1,
  /**
   * Wrong command-line usage: a bad argument or option (a file it names cannot be read), the wrong side
   * (a machine that is neither a hub nor a peer included: `status`, `doctor`), nothing there to work on
   * (`apply --from-state` with no state saved, `confirm` with nothing waiting); nothing was changed.
   */
  usage: 2,
  /**
   * The machine could not do it: a command on the host failed (the host was put back as it was), or
   * the hub's daemon did not answer (not running, or unreachable through the tunnel).
   */
  host: 3,
  /** `porthole doctor`: a check failed. */
  failed: 4,
} as const;

/** An error meant for the user: printed without a stack trace, exits with `code`. */
export class UserError extends Error {
  /** `cause`: the error it words (e.g. the hub did not answer), for a caller that tells causes apart. */
  constructor(
    message: string,
    readonly code: number = EXIT.invalid,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}
