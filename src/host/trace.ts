// `porthole trace` on the machine: one `nft -i` process adds the trace table (flags owner, so the
// kernel deletes it when that process ends, however it ends) and then runs `monitor trace` on the
// same socket, whose lines it hands over one by one.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { exitStatus, run } from "./run.ts";

export interface TraceSession {
  /** The table the session added (`porthole_trace_TRACER_NFT`). */
  table: string;
  /** Ends the nft process (by its pid) and waits for it; the kernel removes the table with its socket. */
  stop(): Promise<void>;
  /** Resolves when nft has ended (stopped, or on its own): its exit code and what it printed on stderr. */
  ended: Promise<{ code: number; stderr: string }>;
}

/**
 * Starts tracing in `nft -i`: names the table from nft's pid (`tableName(nftPid)`), runs
 * `script(table)` (one line of nft commands that adds `table inet TABLE`), checks the table is there by
 * listing it, then `monitor trace`; every line after that goes to `onLine(table)`. Rejects, with nft's
 * error, when the table cannot be added (nothing is left behind then); `timeoutMs` bounds the wait.
 */
export function startTrace(
  tableName: (nftPid: number) => string,
  script: (table: string) => string,
  onLine: (table: string) => (line: string) => void,
  timeoutMs = 10_000,
): Promise<TraceSession> {
  // Its own process group: Ctrl-C reaches porthole, which stops nft itself (and reports it stopped).
  const child = spawn("nft", ["-i"], { stdio: ["pipe", "pipe", "pipe"], detached: true });
  const table = tableName(child.pid ?? 0);
  const handle = onLine(table);
  let stderr = "";
  const ended = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ code: e.code === "ENOENT" ? 127 : 1, stderr: `nft: ${e.code ?? e.message}` }),
    );
    // As a shell says it (128 + the signal's number): our own stop is told apart by its caller, so a
    // SIGTERM from elsewhere reads 143, not 0.
    child.on("close", (code, signal) => resolve({ code: exitStatus(code, signal), stderr }));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await ended;
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    let listed = false;
    let rest = "";
    const fail = (why: string) => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      void stop().then(() => reject(new Error(why)));
    };
    const timer = setTimeout(
      () => fail(`nft did not add table inet ${table} within ${timeoutMs} ms`),
      timeoutMs,
    );
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      // nft -i goes on after an error; the listing that follows would fail too: stop at the first.
      if (!ready && /Error:/.test(stderr)) fail(`nft could not add the trace table: ${stderr.trim()}`);
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (ready) handle(line);
        else if (line.startsWith(`table inet ${table} `)) listed = true;
        else if (listed && line === "}") {
          ready = true;
          clearTimeout(timer);
          resolve({ table, stop, ended });
        }
      }
    });
    void ended.then(({ code, stderr: err }) =>
      fail(
        code === 127
          ? "nft is not installed: apt-get install nftables"
          : `nft ended: ${err.trim() || `exit ${code}`}`,
      ),
    );
    child.stdin.on("error", () => {});
    // stdin stays open: nft -i would end (and take the table with it) at its end.
    child.stdin.write(`${script(table)}\nlist table inet ${table}\nmonitor trace\n`);
  });
}

/** `nft -j list chains` (every table's chains, with the hook of each base chain); "" when nft fails. */
export async function listChainsJson(): Promise<string> {
  const r = await run(["nft", "-j", "list", "chains"], { allowFail: true });
  return r.code === 0 ? r.stdout : "";
}

/** The nft tables now, as "family name" (`inet porthole`, `inet porthole_trace_1234_1240`, …). */
export async function nftTables(): Promise<string[]> {
  const r = await run(["nft", "list", "tables"], { allowFail: true });
  return r.stdout
    .split("\n")
    .map((l) => /^table (\S+ \S+)/.exec(l)?.[1])
    .filter((t): t is string => !!t);
}

const comm = (pid: number) =>
  readFile(`/proc/${pid}/comm`, "utf8").then(
    (c) => c.trim(),
    () => null,
  );

/**
 * Ends the nft processes of traces whose porthole process is gone (killed with SIGKILL: nft then
 * lives on until the next traced packet's output finds no reader). `tables` are the trace tables'
 * pids (script.ts's traceTablePids); an nft process is ended by its pid only while it still is `nft`.
 * Returns the pids ended.
 */
export async function endOrphanTraces(tables: { tracer: number; nft: number }[]): Promise<number[]> {
  const ended: number[] = [];
  for (const t of tables) {
    if ((await comm(t.tracer)) !== null || (await comm(t.nft)) !== "nft") continue;
    try {
      process.kill(t.nft, "SIGTERM");
      ended.push(t.nft);
    } catch {
      // gone meanwhile
    }
  }
  return ended;
}
