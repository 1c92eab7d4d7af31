// Scratch machines for running the built CLI as a user would: each its own config and state
// directories under one temporary directory (removed after the file's tests), nothing on the real
// machine touched.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../../src/net/wgkey.ts";
import { BIN } from "./built-cli.ts";

export type MachineKind = "hub" | "peer" | "none";

/**
 * A factory of scratch machines for one test file: "hub" (after hub init), "peer" (after join) or
 * "none" (nothing set up). Each has a wg0.conf beside it (for `import wg-quick`), `run` (the built
 * CLI with the machine's PORTHOLE_* directories, cwd the machine; `runAsync` the same as a promise) and `files` (every file under the
 * machine with its bytes: equal before and after means nothing changed).
 */
export function scratchMachines(tag: string) {
  const work = mkdtempSync(join(tmpdir(), `porthole-${tag}-`));
  after(() => rmSync(work, { recursive: true, force: true }));
  const hubKey = generatePrivateKey();
  const spec = [
    "version: 1",
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(hubKey)}`,
    "peers: []",
    "forwards: []",
    "",
  ].join("\n");
  let n = 0;
  return function machine(kind: MachineKind) {
    const dir = join(work, `m${n++}`);
    const config = join(dir, "etc");
    const state = join(dir, "var");
    mkdirSync(config, { recursive: true });
    mkdirSync(state, { recursive: true });
    writeFileSync(join(dir, "wg0.conf"), "[Interface]\nAddress = 10.8.0.1/24\nListenPort = 51820\n");
    if (kind === "hub") {
      writeFileSync(join(config, "porthole.yaml"), spec);
      writeFileSync(join(config, "private.key"), `${hubKey}\n`, { mode: 0o600 });
      writeFileSync(join(state, "hub-runtime.json"), '{ "tokens": [] }\n');
    }
    if (kind === "peer") {
      writeFileSync(join(config, "porthole.yaml"), spec);
      writeFileSync(join(state, "peer.json"), '{ "name": "rpi", "api": "http://127.0.0.1:9" }\n');
    }
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PORTHOLE_"))),
      PORTHOLE_CONFIG_DIR: config,
      PORTHOLE_STATE_DIR: state,
      PORTHOLE_ROOT: join(dir, "root"),
    };
    const files = (d = dir): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? [`${e.name}/`, ...files(join(d, e.name))]
          : [`${join(d, e.name)}:${readFileSync(join(d, e.name)).toString("base64")}`],
      );
    const run = (args: string[], input?: string) => {
      // A command that hangs fails its test (killed: status null) instead of stalling the run (a peer's
      // change to an unreachable hub retries for 60 s: well under this).
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: dir,
        env,
        input,
        encoding: "utf8",
        timeout: 180_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    // As run, without blocking this process (a server in the test answers the command meanwhile).
    const runAsync = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const c = spawn(process.execPath, [BIN, ...args], {
          cwd: dir,
          env,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        c.stdout.on("data", (d: Buffer) => {
          stdout += d;
        });
        c.stderr.on("data", (d: Buffer) => {
          stderr += d;
        });
        c.on("error", reject);
        c.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    return { run, runAsync, files, config, state };
  };
}
