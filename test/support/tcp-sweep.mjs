// Tries a TCP connection to every port of HOST (bounded: one pass, limited concurrency and time
// per port) and prints the open ones as JSON. Usage: tcp-sweep.mjs HOST [FROM] [TO]
import { connect } from "node:net";

const [host, from = "1", to = "65535"] = process.argv.slice(2);
const ports = [];
for (let p = Number(from); p <= Number(to); p++) ports.push(p);
const open = [];
const probe = (port) =>
  new Promise((resolve) => {
    const s = connect({ host, port, timeout: 800 });
    const done = (ok) => {
      if (ok) open.push(port);
      s.destroy();
      resolve();
    };
    s.once("connect", () => done(true));
    s.once("timeout", () => done(false));
    s.once("error", () => done(false));
  });
let next = 0;
await Promise.all(
  Array.from({ length: 400 }, async () => {
    while (next < ports.length) await probe(ports[next++]);
  }),
);
console.log(JSON.stringify(open.sort((a, b) => a - b)));
