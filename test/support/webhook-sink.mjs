// Receives webhook POSTs and appends each JSON body as one line to FILE. Usage: webhook-sink.mjs PORT FILE
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const [port, file] = process.argv.slice(2);
createServer((req, res) => {
  let body = "";
  req.on("data", (c) => {
    body += c;
  });
  req.on("end", () => {
    appendFileSync(file, `${body.replace(/\n/g, " ")}\n`);
    res.end("ok");
  });
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
