// Services the lab runs on its hosts: the seed's WebDAV share (rclone) on the peer.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { isRunning, waitFor } from "./procs.ts";
import type { Spawned, World } from "./world.ts";

/**
 * Serves DIR over WebDAV from the peer, as the seed does (`rclone serve webdav --user U --pass P
 * --addr :PORT DIR`), and waits until it answers on 127.0.0.1:PORT inside the peer.
 */
export async function startWebdav(
  world: World,
  dir: string,
  user: string,
  pass: string,
  port = 8080,
): Promise<Spawned> {
  statSync(dir); // a clear ENOENT here rather than an rclone error in a log
  const p = await world.spawn(
    "peer",
    ["rclone", "serve", "webdav", "--user", user, "--pass", pass, "--addr", `:${port}`, resolve(dir)],
    { label: "webdav" },
  );
  try {
    await waitFor(
      `rclone to listen on port ${port} in the peer`,
      async () => {
        if (!isRunning(p.pid)) throw new Error(`rclone exited:\n${world.logTail(p.log)}`);
        const r = await world.exec(
          "peer",
          [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "1",
            `http://127.0.0.1:${port}/`,
          ],
          { allowFail: true },
        );
        return r.stdout.trim() !== "000" && r.stdout.trim() !== "" ? true : undefined;
      },
      15_000,
      100,
    );
  } catch (e) {
    await world.stop(p.pid).catch(() => {});
    throw e;
  }
  return p;
}
