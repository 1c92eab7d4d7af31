// A UDP client that keeps sending from one source port, as a game client does: datagram N every
// INTERVAL ms, and a line per datagram sent and per answer, with the time (ms since the epoch).
// Usage: udp-stream.mjs HOST PORT SOURCE_PORT [INTERVAL_MS]
// Output: "sent N TIME" and "got N TIME PAYLOAD" (the echo server's answer names the port it serves).
import { createSocket } from "node:dgram";

const [host, port, sport, interval = "100"] = process.argv.slice(2);
const s = createSocket("udp4");
s.on("error", (e) => console.log(`error ${Date.now()} ${e.message}`));
s.on("message", (msg) => {
  const text = msg.toString();
  const n = /(\d+)$/.exec(text)?.[1] ?? "?";
  console.log(`got ${n} ${Date.now()} ${text}`);
});
s.bind(Number(sport), () => {
  let n = 0;
  setInterval(() => {
    n++;
    s.send(String(n), Number(port), host);
    console.log(`sent ${n} ${Date.now()}`);
  }, Number(interval));
});
