// A peer's commands ask the hub through the tunnel: the hub's words for a refusal, exit codes for each
// outcome. Apart from peer-commands.ts so `status` on a peer loads only this and peer-status.ts.
import { HubRefused, HubUnreachable, hubRequest } from "../peer/client.ts";
import type { PeerIdentity } from "../peer/local.ts";
import { hubClient } from "../protocol/client.ts";
import { EXIT, UserError } from "./errors.ts";
import { type ArgNames, inArgWords } from "./hub-words.ts";

/**
 * The hub's API for this peer; a refusal or no answer becomes a UserError with the hub's words, a
 * refused field named by the command's argument that set it (`args`: hub-words.ts).
 */
export const ask = (id: PeerIdentity, args: ArgNames = {}) =>
  hubClient(async (method, path, body) => {
    try {
      // A change the hub did not answer is followed up for up to a minute: said, not a silent hang.
      return await hubRequest(id.api, method, path, body, undefined, {
        onWait: (m) => console.error(`porthole: ${m}`),
      });
    } catch (e) {
      // Refused (4xx): exit 1; the hub failed (5xx) or did not answer: exit 3 (errors.ts).
      if (e instanceof HubRefused)
        throw new UserError(
          inArgWords(e.message, e.problems, args),
          e.status >= 500 ? EXIT.host : EXIT.invalid,
        );
      if (e instanceof HubUnreachable) throw new UserError(e.message, EXIT.host, e);
      throw e;
    }
  });
