// Shared by the lab benchmarks (apply.bench.ts, connrate.bench.ts): specs with many real forwards to the
// lab's peer, labs that are always torn down (also on Ctrl-C), timing, medians and markdown tables.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { run } from "../src/host/run.ts";
import { labUp, WEBDAV } from "../src/lab/lab.ts";
import { findProgram, labProblems } from "../src/lab/prereq.ts";
import type { LabHost } from "../src/lab/state.ts";
import { destroyWorld } from "../src/lab/teardown.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import { DEFAULTS } from "../src/spec/defaults.ts";

export const REPO = resolve(import.meta.dirname, "..");
export const PORTHOLE = [process.execPath, join(REPO, "bin/porthole.js")];
/** How a bench runs a TypeScript helper inside a lab host (cwd must be the repo, for tsx). */
export const TSX = [process.execPath, "--import", "tsx"];

export type Backend = "nftables" | "iptables";
export const BACKENDS: readonly Backend[] = ["nftables", "iptables"];

export interface Fwd {
  name: string;
  port: number;
  targetPort: number;
}

/** COUNT forwards, public port FROM+i to the peer's port FROM+i (distinct targets: the largest sets/chains). */
export function forwardRange(from: number, count: number, prefix = "f"): Fwd[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${from + i}`,
    port: from + i,
    targetPort: from + i,
  }));
}

/** The lab's hub and its one peer "rpi" (10.8.0.2), with these forwards, in snat mode. */
export function labBenchSpec(
  hubKey: string,
  peerKey: string,
  backend: Backend,
  forwards: Fwd[],
  o: { snatPool?: string } = {},
): string {
  const lines = [
    "version: 1",
    "hub:",
    "  endpoint: 203.0.113.1",
    "  listenPort: 51820",
    `  publicKey: ${hubKey}`,
    "  publicInterface: ens3",
    `  firewall: ${backend}`,
    ...(o.snatPool ? [`  snatPool: ${o.snatPool}`] : []),
    "peers:",
    "  - name: rpi",
    `    publicKey: ${peerKey}`,
    "    address: 10.8.0.2",
    "forwards:",
  ];
  for (const f of forwards) {
    lines.push(
      `  - name: ${f.name}`,
      "    proto: tcp",
      `    port: ${f.port}`,
      "    peer: rpi",
      `    targetPort: ${f.targetPort}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Public keys of the lab's hub and peer (each made on its host by labUp). */
export async function labKeys(world: World): Promise<{ hub: string; peer: string }> {
  const { readFile } = await import("node:fs/promises");
  const pub = async (h: "hub" | "peer") => {
    const key = await readFile(join(world.hostRecord(h).configDir, "private.key"), "utf8");
    return (await world.exec(h, [...PORTHOLE, "pubkey"], { input: key, secretInput: true })).stdout.trim();
  };
  return { hub: await pub("hub"), peer: await pub("peer") };
}

/**
 * A bench's lab: `labUp` (nftables, snat), the public keys of its hub and peer, and the directory SUB
 * inside the lab's own (created) for the bench's specs and files.
 */
export async function benchLabUp(
  name: string,
  sub: string,
): Promise<{ w: World; keys: { hub: string; peer: string }; dir: string }> {
  console.error(`building lab ${name}...`);
  const w = await labUp({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const dir = join(w.dir, sub);
  await mkdir(dir, { recursive: true });
  return { w, keys: await labKeys(w), dir };
}

/** Fails early, with the reason, when this machine cannot run the lab (root, tools, TUN). */
export function requireLabMachine(extraTools: string[] = []): void {
  const problems = [
    ...labProblems(),
    ...labProblems(extraTools).filter((p) => p.startsWith("missing programs")),
  ];
  const unique = [...new Set(problems)];
  if (unique.length) {
    console.error(`cannot run this benchmark here:\n  ${unique.join("\n  ")}`);
    process.exit(2);
  }
}

/**
 * The benches run the built CLI (bin/porthole.js -> dist/porthole.cjs): build it when missing, and say so
 * when it is older than the sources (the numbers would be those of older code).
 */
export function requireBuiltCli(): void {
  const dist = join(REPO, "dist/porthole.cjs");
  if (!existsSync(dist)) {
    console.error("dist/porthole.cjs is missing: npm run build");
    execFileSync("npm", ["run", "build"], { cwd: REPO, stdio: "ignore" });
    return;
  }
  const built = statSync(dist).mtimeMs;
  const newer = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const found = e.isDirectory() ? newer(p) : statSync(p).mtimeMs > built ? p : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const stale = newer(join(REPO, "src"));
  if (stale)
    console.error(
      `warning: ${stale} is newer than dist/porthole.cjs: the CLI numbers are those of the last build (npm run build)`,
    );
}

/** A lab name unique to this process (lab names: 1-16 lowercase letters, digits, '-'). */
export const benchLabName = (tag: string) => `${tag}${process.pid.toString(36)}`.slice(0, 16);

/**
 * Runs fn, then destroys every lab in `names` (also when fn throws, and on SIGINT/SIGTERM/SIGHUP).
 * `names` may grow while fn runs (a bench adds each lab's name before creating it).
 */
export async function withLabs<T>(names: string[], fn: () => Promise<T>): Promise<T> {
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const n of names) {
        try {
          await destroyWorld(n);
        } catch (e) {
          console.error(`could not remove lab ${n}: ${(e as Error).message}`);
          console.error(`  run: porthole lab down --name ${n}`);
        }
      }
    })();
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: removing the bench labs (${names.join(", ")})...`);
    void cleanup().finally(() => process.exit(130));
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  try {
    return await fn();
  } finally {
    await cleanup();
    for (const s of signals) process.off(s, onSignal);
  }
}

/** Wall time of one command inside a lab host, in ms (includes nsenter and the program's start-up). */
export async function timeExec(
  world: World,
  host: LabHost,
  argv: string[],
  opts: Parameters<World["exec"]>[2] = {},
): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  const r = await world.exec(host, argv, opts);
  return { ms: performance.now() - t0, stdout: r.stdout };
}

/** Waits until a process started with world.spawn has printed TEXT in its log (10 s at most). */
export async function waitForLog(world: World, log: string, text: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (world.logTail(log).includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${log}: "${text}" did not appear:\n${world.logTail(log)}`);
}

export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export const fmtMs = (ms: number) =>
  Number.isNaN(ms) ? "–" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;

/** "median (min–max)" of samples in ms. */
export const spreadMs = (xs: number[]) =>
  xs.length > 1
    ? `${fmtMs(median(xs))} (${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))})`
    : fmtMs(median(xs));

export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Tiny argv parser: --name value, --flag. */
export function cliArgs(argv = process.argv.slice(2)) {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    number(name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
      const v = get(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        console.error(`${name}: ${JSON.stringify(v)} is not accepted; give a whole number ${min}-${max}`);
        process.exit(2);
      }
      return n;
    },
    backends(): Backend[] {
      const v = get("--backends");
      if (v === undefined) return [...BACKENDS];
      const list = v.split(",");
      const bad = list.filter((b) => !BACKENDS.includes(b as Backend));
      if (bad.length || !list.length) {
        console.error(`--backends: ${JSON.stringify(v)} is not accepted; give nftables, iptables or both`);
        process.exit(2);
      }
      return list as Backend[];
    },
    flag: (name: string) => argv.includes(name),
    /** The raw value after NAME; undefined when NAME is not given. */
    value: get,
  };
}

/** The machine's state, to print next to the numbers (a noisy machine explains noisy numbers). */
export async function machineNote(): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const { cpus } = await import("node:os");
  const load = (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");
  const kernel = (await readFile("/proc/sys/kernel/osrelease", "utf8")).trim();
  return `${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), kernel ${kernel}, load average ${load}`;
}

/**
 * Appends `count` tcp forwards (ports from `first`, target port = public port, to the lab's peer) to the
 * hub's spec (its block list is last) and waits until the daemon applied them: the last one answers from
 * the client (a fast-http server on the peer must listen on it).
 */
export async function fillHubForwards(
  world: World,
  file: string,
  first: number,
  count: number,
): Promise<void> {
  const text = await readFile(file, "utf8");
  if (!/\nforwards:\n(?: {2}.*\n)+$/.test(text))
    throw new Error(`the hub's spec does not end with a block list of forwards:\n${text}`);
  const lines = forwardRange(first, count).flatMap((f) => [
    `  - name: ${f.name}`,
    "    proto: tcp",
    `    port: ${f.port}`,
    `    peer: ${WEBDAV.peer}`,
  ]);
  await writeFile(`${file}.bench`, `${text}${lines.join("\n")}\n`);
  await rename(`${file}.bench`, file);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ls = await world.exec("hub", [...PORTHOLE, "forward", "ls"], { allowFail: true });
    if (ls.stdout.includes(`f${first + count - 1} `) && (await through(world, first + count - 1))) return;
    if (Date.now() > deadline)
      throw new Error(
        `the hub daemon did not apply ${count} forwards within 60 s (forward ls: ${ls.stdout.split("\n").filter(Boolean).length} lines${ls.code ? `, ${ls.stderr.trim()}` : ""})`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Whether the client gets "ok" (fast-http) from the hub's public address on `port`. */
export async function through(world: World, port: number): Promise<boolean> {
  const r = await world.exec("client", ["curl", "-sS", "-m", "2", `http://${LAB.hubPublic}:${port}/`], {
    allowFail: true,
  });
  return r.stdout.trim() === "ok";
}

/** Replaces the tunnel by a veth pair named wg0 (hub 10.8.0.1/24 <-> peer 10.8.0.2/24, MTU 1420). */
export async function vethTunnel(world: World): Promise<void> {
  const hub = world.netns("hub");
  await run([
    "ip",
    "-n",
    hub,
    "link",
    "add",
    "wg0",
    "type",
    "veth",
    "peer",
    "name",
    "wg0",
    "netns",
    world.netns("peer"),
  ]);
  for (const [h, addr] of [
    ["hub", "10.8.0.1/24"],
    ["peer", "10.8.0.2/24"],
  ] as [LabHost, string][]) {
    await run(["ip", "-n", world.netns(h), "-batch", "-"], {
      input: `address add ${addr} dev wg0\nlink set wg0 mtu 1420 up\n`,
    });
  }
  // What porthole's agent adds on a peer for the hub's default SNAT pool: replies to a pooled client
  // go back through the tunnel (via the hub's address: a veth, unlike wg0, resolves neighbours by ARP).
  await world.exec("peer", ["ip", "route", "add", DEFAULTS.snatPool, "via", "10.8.0.1", "dev", "wg0"]);
  await world.exec("hub", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
}

/** The C server compiled into DIR, or the node one when there is no compiler (or it fails). */
export async function buildServer(dir: string): Promise<string[]> {
  const cc = findProgram("cc") ?? findProgram("gcc");
  if (cc) {
    const out = join(dir, "fast-http");
    try {
      await promisify(execFile)(cc, ["-O2", "-o", out, join(REPO, "bench/support/fast-http.c")]);
      return [out];
    } catch (e) {
      console.error(`could not compile fast-http.c (${(e as Error).message}); using fast-http.mjs`);
    }
  }
  return [process.execPath, join(REPO, "bench/support/fast-http.mjs")];
}

/** The peer's TcpExt PAWS* counters summed: SYNs and segments it dropped as old duplicates (PAWS). */
export async function pawsCount(w: World): Promise<number> {
  const text = (await w.exec("peer", ["cat", "/proc/net/netstat"])).stdout;
  const [names, values] = text.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const n = (names ?? "").split(/\s+/);
  const v = (values ?? "").split(/\s+/).map(Number);
  return n.reduce((sum, name, i) => (name.startsWith("PAWS") ? sum + (v[i] ?? 0) : sum), 0);
}
