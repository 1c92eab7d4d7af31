// Tearing a lab world down from its record alone: processes by recorded identity (PID, start time and
// command line), whatever else runs in its namespaces, the holders, the namespaces, mounts and files.
import { readFileSync, rmSync } from "node:fs";
import { resolve, sep } from "node:path";
import { run } from "../host/run.ts";
import { nsId, type ProcIdentity, pidsInNetns, stillOurs, stopProcesses } from "./procs.ts";
import { LAB_BASE_DIR, readState, statePathFor } from "./state.ts";
import type { WorldOptions } from "./world.ts";

export interface DestroyReport {
  name: string;
  /** False when there was no record of this lab (nothing to do). */
  existed: boolean;
  /** PIDs that were signalled and are gone. */
  stopped: number[];
  namespacesDeleted: string[];
  /** Namespaces with the lab's names that were left alone because they are not the ones the lab made. */
  notOurs: string[];
}

/**
 * Removes everything the record of lab NAME lists: spawned processes (only if PID, start time and command
 * line still match), every process inside its network namespaces (wireguard-go daemons started by
 * porthole, shells…), the holders, the namespaces, stray mounts, its directory and the record itself.
 * Idempotent; parts that are already gone are fine. If something cannot be removed it throws after trying
 * everything else and keeps the record, so it can be run again.
 */
export async function destroyWorld(
  name: string,
  opts: Pick<WorldOptions, "baseDir"> = {},
): Promise<DestroyReport> {
  const baseDir = resolve(opts.baseDir ?? LAB_BASE_DIR);
  const statePath = statePathFor(baseDir, name);
  const report: DestroyReport = { name, existed: false, stopped: [], namespacesDeleted: [], notOurs: [] };
  const s = readState(statePath);
  if (!s) return report;
  report.existed = true;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };

  // 1. Processes the lab started, by recorded identity.
  await attempt("stopping spawned processes", async () => {
    const byPid = new Map(s.spawned.map((p) => [p.pid, p]));
    report.stopped.push(
      ...(await stopProcesses([...byPid.keys()], (pid) => stillOurs(byPid.get(pid) as ProcIdentity))),
    );
  });

  // 2. Whatever else lives in the lab's network namespaces (only while the namespace is provably the lab's).
  const hosts = Object.values(s.hosts);
  const ours = new Map<string, { dev: number; ino: number }>();
  for (const h of hosts) {
    const id = nsId(`/run/netns/${h.netns}`);
    if (!id) continue;
    if (h.netnsId && (h.netnsId.dev !== id.dev || h.netnsId.ino !== id.ino)) {
      report.notOurs.push(h.netns);
      continue;
    }
    if (!h.netnsId && !(h.holder && stillOurs(h.holder))) {
      // Created but never confirmed (crash between `ip netns add` and the record): ours by name only if
      // nothing else is using it.
      if (pidsInNetns(id).length > 0) {
        report.notOurs.push(h.netns);
        continue;
      }
    }
    ours.set(h.netns, id);
  }
  for (const [netns, id] of ours) {
    await attempt(`stopping processes in ${netns}`, async () => {
      const same = (pid: number) => {
        const p = nsId(`/proc/${pid}/ns/net`);
        return p !== undefined && p.dev === id.dev && p.ino === id.ino;
      };
      report.stopped.push(...(await stopProcesses(pidsInNetns(id), same)));
    });
  }

  // 3. Holders (also those whose namespace file is already gone).
  await attempt("stopping holders", async () => {
    const holders = hosts.flatMap((h) => (h.holder ? [h.holder] : []));
    const byPid = new Map(holders.map((p) => [p.pid, p]));
    report.stopped.push(
      ...(await stopProcesses([...byPid.keys()], (pid) => stillOurs(byPid.get(pid) as ProcIdentity))),
    );
  });

  // 4. Namespaces.
  for (const [netns] of ours) {
    await attempt(`deleting namespace ${netns}`, async () => {
      const r = await run(["ip", "netns", "delete", netns], { allowFail: true });
      if (r.code !== 0 && nsId(`/run/netns/${netns}`)) throw new Error(r.stderr.trim() || `exit ${r.code}`);
      report.namespacesDeleted.push(netns);
    });
  }

  // 5. Mounts: the per-host ones die with their mount namespaces; unmount anything of the lab's directory
  //    that shows up in the machine's own mount table (there should be none).
  const dir = resolve(s.dir);
  const inside = dir.startsWith(baseDir + sep);
  if (!inside) problems.push(`the record's directory ${dir} is outside ${baseDir}; not touching it`);
  await attempt("unmounting", async () => {
    for (const target of mountsUnder(dir).reverse()) {
      await run(["umount", "-l", target], { allowFail: true });
    }
  });

  // 6. Files, then the record (last, and only if all went well, so a retry still knows what to do).
  if (inside) await attempt(`removing ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  if (problems.length) {
    throw new Error(
      `lab ${name}: could not clean up everything (kept ${statePath}; run again):\n  ${problems.join("\n  ")}`,
    );
  }
  rmSync(statePath, { force: true });
  return report;
}

function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const unoctal = (p: string) =>
    p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return text
    .split("\n")
    .map((l) => unoctal(l.split(" ")[4] ?? ""))
    .filter((m) => m === dir || m.startsWith(dir + sep));
}
