// A minimal HTTP responder for the lab benchmarks: on each TCP port given, reads the request, answers
// "200 ok" and closes (what a server does for `Connection: close`). No HTTP parsing, so it costs far less
// per connection than node:http. Prints "listening" once every port listens.
//   node bench/support/fast-http.mjs PORT...
import { createServer } from "node:net";

const RESPONSE = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
const ports = process.argv.slice(2).map(Number);
if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  console.error("usage: fast-http.mjs PORT...");
  process.exit(2);
}
let pending = ports.length;
for (const port of ports) {
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.end(RESPONSE));
  });
  server.listen({ port, host: "0.0.0.0", backlog: 4096 }, () => {
    if (--pending === 0) console.log("listening");
  });
}
