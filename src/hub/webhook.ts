// The hub's events to the admin's webhook (peer online/offline, a failed apply): one JSON POST each.
import { type ClientRequest, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/**
 * POSTs `body` as JSON to `url` (http:// or https://, as `hub webhook` accepts) and resolves to what went
 * wrong, in words ("answered 404", "ECONNREFUSED", "no answer within 5 s"), or null when the receiver
 * took it (2xx). Never rejects. Through node's http client, not fetch: fetch refuses the Fetch
 * standard's "bad ports" (6000, 10080...) without sending, and said only "fetch failed".
 */
export function postWebhook(url: string, body: unknown, timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const settle = (problem: string | null) => {
      clearTimeout(timer);
      resolve(problem);
    };
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    let req: ClientRequest;
    try {
      req = send(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.resume(); // the receiver's answer is not read, only its status
        const status = res.statusCode ?? 0;
        settle(status >= 200 && status < 300 ? null : `answered ${status}`);
      });
    } catch (e) {
      resolve((e as NodeJS.ErrnoException).code ?? (e as Error).message);
      return;
    }
    req.on("error", (e: NodeJS.ErrnoException) => settle(e.code ?? e.message));
    const timer = setTimeout(() => {
      settle(`no answer within ${timeoutMs / 1000} s`);
      req.destroy();
    }, timeoutMs);
    req.end(JSON.stringify(body));
  });
}
