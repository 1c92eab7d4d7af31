// A test server for the peer: on each TCP port it answers HTTP with the client's address as it
// sees it; on each UDP port it echoes "<address> <payload>". Usage: whoami.mjs tcp:9000 udp:9053 ...
// "first-fin:9000" answers the same at once in HTTP/1.0 and closes first, so the client reads to the
// server's FIN and only the server holds the connection in TIME_WAIT (the client may reuse its port).
// "tcp6:9000" answers HTTP like "tcp:" on IPv6 (::, IPv6 only).
import { createSocket } from "node:dgram";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";

for (const spec of process.argv.slice(2)) {
  const [proto, port] = spec.split(":");
  if (proto === "first-fin") {
    createTcpServer((sock) => {
      sock.on("error", () => {});
      sock.end(`HTTP/1.0 200 OK\r\n\r\n${sock.remoteAddress} ${port}\n`);
    }).listen(Number(port), "0.0.0.0");
  } else if (proto === "tcp" || proto === "tcp6") {
    createServer((req, res) => {
      res.setHeader("connection", "close");
      res.end(`${req.socket.remoteAddress} ${port}\n`);
    }).listen(
      proto === "tcp6" ? { port: Number(port), host: "::", ipv6Only: true } : { port: Number(port), host: "0.0.0.0" },
    );
  } else {
    const s = createSocket("udp4");
    s.on("message", (msg, rinfo) => s.send(`${rinfo.address} ${port} ${msg}`, rinfo.port, rinfo.address));
    s.bind(Number(port), "0.0.0.0");
  }
}
console.log("listening");
