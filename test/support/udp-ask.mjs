// Sends one UDP datagram and prints the answer; exits 1 with "timeout" if none comes.
// Usage: udp-ask.mjs HOST PORT [TIMEOUT_MS]
import { createSocket } from "node:dgram";

const [host, port, timeout = "2000"] = process.argv.slice(2);
const s = createSocket("udp4");
const timer = setTimeout(() => {
  console.log("timeout");
  process.exit(1);
}, Number(timeout));
s.on("message", (msg) => {
  clearTimeout(timer);
  console.log(msg.toString());
  s.close();
});
s.send("ping", Number(port), host);
