// One HTTP request to the hub's API with node's http client: the peer's through the tunnel, the CLI's on
// the hub through the daemon's root socket. Not `fetch`: its first use loads undici, ~0.26 × a bare
// `node -e 0` of CPU on every command that asks the hub (bench/README.md, "start-up").
import { type Agent, type ClientRequest, request } from "node:http";
import type { Socket } from "node:net";

/**
 * How the request travels: over the one socket `connect` opens (a CLI's one request: no http.Agent,
 * whose pool and server-name check are nothing to it), or through a keep-alive `agent` to host:port
 * (the peer agent's probe every 2 s reuses its connection instead of a TCP handshake and teardown
 * through the tunnel each time).
 */
export type Via = { connect: () => Socket } | { agent: Agent; host: string; port: number };

export interface TextReply {
  status: number;
  text: string;
}

/**
 * Sends `method path` `via` a socket or an agent (see Via) with a JSON `body` and `headers`, and resolves
 * to the reply's status and text. Rejects with the socket's error (its `code`: ECONNREFUSED, ENOENT,
 * EHOSTUNREACH...), or with code ETIMEDOUT when the whole exchange takes longer than `timeoutMs` (none:
 * no limit). A request whose kept-alive connection is reset before any answer goes again on another.
 */
export function requestText(
  via: Via,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<TextReply> {
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (e: Error) => {
      done = true;
      clearTimeout(timer);
      reject(e); // the first of a timeout and the error its destroy causes wins
    };
    let req: ClientRequest;
    const send = () => {
      let answered = false;
      const r = request(
        {
          ...("agent" in via
            ? { agent: via.agent, host: via.host, port: via.port }
            : { createConnection: via.connect }),
          method,
          path,
          headers: { "content-type": "application/json", ...opts.headers },
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            done = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() });
          });
          res.on("error", fail);
        },
      );
      r.on("error", (e: NodeJS.ErrnoException) => {
        // A kept-alive connection the hub closed without this side seeing it (its FIN lost in the
        // tunnel, the hub rebooted): reset before any answer. Sent again on another connection, as node's
        // docs advise; a change carries its request id, so the hub does it once.
        if (!done && !answered && r.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE")) send();
        else fail(e);
      });
      r.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
      req = r;
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            const e: NodeJS.ErrnoException = new Error(`no answer within ${opts.timeoutMs} ms`);
            e.code = "ETIMEDOUT";
            fail(e);
            req.destroy(e);
          }, opts.timeoutMs);
    send();
  });
}
