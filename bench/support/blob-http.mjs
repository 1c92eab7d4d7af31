// An HTTP server for bench/relay.bench.ts: keep-alive, "/" answers "ok" (latency), "/50m" answers
// 50 MB from memory (download time). Prints "listening" once every port listens.
//   node bench/support/blob-http.mjs PORT...
import { createServer } from "node:http";

const BLOB = Buffer.alloc(50 * 1024 * 1024, 97);
const ports = process.argv.slice(2).map(Number);
if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  console.error("usage: blob-http.mjs PORT...");
  process.exit(2);
}
let pending = ports.length;
for (const port of ports) {
  createServer({ keepAlive: true }, (req, res) => {
    const body = req.url === "/50m" ? BLOB : "ok\n";
    res.writeHead(200, { "content-length": body.length }).end(body);
  }).listen({ port, host: "0.0.0.0", backlog: 4096 }, () => {
    if (--pending === 0) console.log("listening");
  });
}
