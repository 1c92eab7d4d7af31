// Sockets that serve on this host (TCP listening, UDP bound), from `ss`: the hub refuses a forward
// whose public port would shadow one of them.
import { run } from "./run.ts";
import type { Listener } from "./types.ts";

/**
 * Parses `ss -H -l -n -t -u [-p]` lines ("tcp LISTEN 0 5 0.0.0.0:8443 0.0.0.0:* users:((...))").
 * Addresses lose their brackets; a socket bound to a device keeps the device apart (`127.0.0.1%lo`).
 */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const [netid, , , , local] = cols;
    if ((netid !== "tcp" && netid !== "udp") || !local) continue;
    const colon = local.lastIndexOf(":");
    const port = Number(local.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port)) continue;
    const [addr = "", device] = local.slice(0, colon).split("%");
    const processes = [
      ...(cols
        .slice(6)
        .join(" ")
        .matchAll(/\("([^"]*)",pid=(\d+)/g) ?? []),
    ].map((m) => `${m[1]} (pid ${m[2]})`);
    out.push({
      proto: netid,
      address: addr.replace(/^\[|\]$/g, ""),
      device,
      port,
      processes: [...new Set(processes)],
    });
  }
  return out;
}

/**
 * Listening TCP and bound UDP sockets of this host's network namespace. With `processes`, `ss -p`
 * names their programs (it reads every process's file descriptors: slower, and needs root to see
 * other users' processes).
 */
export async function listeningSockets(processes: boolean): Promise<Listener[]> {
  const r = await run(["ss", "-H", "-l", "-n", "-t", "-u", ...(processes ? ["-p"] : [])]);
  return parseSs(r.stdout);
}
