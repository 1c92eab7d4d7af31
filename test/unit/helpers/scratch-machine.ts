// Scratch machines for running the built CLI as a user would: each its own config and state
// directories under one temporary directory (removed after the file's tests), nothing on the real
// machine touched. Each command runs in throwaway namespaces, so that even a change a test did not
// mean to be accepted (the hub's API runs in-process, over the real host, when no daemon runs; a peer
// applies its part after the hub accepts) cannot reach this machine's network, firewall or processes.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../../src/net/wgkey.ts";
import { BIN } from "./built-cli.ts";

export type MachineKind = "hub" | "peer" | "none";

/** The port on the namespace's loopback that leads to a test's hub (`scratchMachines`' `hubSocket`). */
export const HUB_PORT = 51821;

/**
 * The argv that runs `command` (the built CLI and its arguments) in throwaway namespaces: its own network (loopback only:
 * no interface, route, rule or sysctl of this machine's), PIDs (what it starts, wireguard-go, dies with
 * it) and mounts (/run a private tmpfs: no WireGuard socket lands in this machine's /run/wireguard).
 * `hubSocket`: a unix socket that 127.0.0.1:HUB_PORT inside leads to (socat), for a hub served by the test.
 */
export function isolated(command: string[], hubSocket?: string): string[] {
  const setup = ["ip link set lo up", "mount -t tmpfs tmpfs /run"];
  if (hubSocket)
    setup.push(
      `socat TCP-LISTEN:${HUB_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$PORTHOLE_TEST_HUB" &`,
      `until ss -Hltn "sport = :${HUB_PORT}" | grep -q .; do sleep 0.02; done`,
    );
  return [
    "unshare",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-ec",
    `${setup.join("\n")}\nexec "$@"`,
    "sh",
    ...command,
  ];
}

/**
 * A factory of scratch machines for one test file: "hub" (after hub init), "peer" (after join) or
 * "none" (nothing set up). Each has a wg0.conf beside it (for `import wg-quick`), `run` (the built
 * CLI with the machine's PORTHOLE_* directories, cwd the machine, in throwaway namespaces: see
 * `isolated`; `runAsync` the same as a promise) and `files` (every file under the machine with its
 * bytes: equal before and after means nothing changed). `hubSocket`: a unix socket where the test
 * serves a hub, reached from the commands at http://127.0.0.1:HUB_PORT (a peer.json's `api`).
 */
export function scratchMachines(tag: string, hubSocket?: string) {
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
      ...(hubSocket ? { PORTHOLE_TEST_HUB: hubSocket } : {}),
    };
    const files = (d = dir): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? [`${e.name}/`, ...files(join(d, e.name))]
          : [`${join(d, e.name)}:${readFileSync(join(d, e.name)).toString("base64")}`],
      );
    // `more`: environment variables for this command alone (PORTHOLE_SPEC).
    const run = (args: string[], input?: string, more: Record<string, string> = {}) => {
      // A command that hangs fails its test (killed: status null) instead of stalling the run (a peer's
      // change to an unreachable hub retries for 60 s: well under this).
      const [cmd = "unshare", ...argv] = isolated([process.execPath, BIN, ...args], hubSocket);
      const r = spawnSync(cmd, argv, {
        cwd: dir,
        env: { ...env, ...more },
        input,
        encoding: "utf8",
        timeout: 180_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    // As run, without blocking this process (a server in the test answers the command meanwhile).
    const runAsync = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const [cmd = "unshare", ...argv] = isolated([process.execPath, BIN, ...args], hubSocket);
        const c = spawn(cmd, argv, {
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
