// Benchmark: one change through the hub daemon at 10,000 forwards, the way a user makes it. The hub runs
// `porthole hub run` (the lab of `porthole lab up`); a forward is added and removed by
//   - `porthole forward add|rm` on the hub (node start-up + a request on the daemon's unix socket), and
//   - the same request with curl on the socket (the daemon's time: spec store edit, validation, apply()).
// The daemon answers when the kernel carries the change (its apply() verified it); after the first add, a
// request from the client namespace goes through the new forward. `porthole status` is timed beside them.
//
//   node --import tsx bench/hub-change.bench.ts [--forwards 10000] [--reps 5]
//
// Needs root and the lab's tools. Builds its own lab (unique name), removes it at the end, also on failure.
import { join } from "node:path";
import { labUpJoined, WEBDAV } from "../src/lab/lab.ts";
import { LAB } from "../src/lab/topology.ts";
import type { World } from "../src/lab/world.ts";
import {
  benchLabName,
  cliArgs,
  fillHubForwards,
  machineNote,
  markdownTable,
  PORTHOLE,
  REPO,
  requireBuiltCli,
  requireLabMachine,
  spreadMs,
  through,
  timeExec,
  waitForLog,
  withLabs,
} from "./lab-bench.ts";

const FIRST_PORT = 10_000;
const args = cliArgs();
const N = args.number("--forwards", 10_000, 1, 40_000);
const reps = args.number("--reps", 5, 1, 20);
const command = ["node --import tsx bench/hub-change.bench.ts", ...process.argv.slice(2)].join(" ");

requireLabMachine();
requireBuiltCli();
const name = benchLabName("hc");
const t = { cliAdd: [] as number[], cliRm: [] as number[], apiAdd: [] as number[], apiRm: [] as number[] };
const startup: number[] = [];
const status: number[] = [];

await withLabs([name], async () => {
  console.error(`building lab ${name} (hub daemon, joined peer)...`);
  const world = await labUpJoined({ name, backend: "nftables", mode: "snat", porthole: PORTHOLE });
  const hub = world.hostRecord("hub");
  const sock = join(hub.stateDir, "api.sock");
  const last = FIRST_PORT + N - 1;
  const extra = FIRST_PORT + N;
  const ports = [last, extra, extra + 1].map(String);
  const server = await world.spawn(
    "peer",
    [process.execPath, join(REPO, "bench/support/fast-http.mjs"), ...ports],
    {
      label: "fast-http",
    },
  );
  await waitForLog(world, server.log, "listening");
  await fillHubForwards(world, join(hub.configDir, "porthole.yaml"), FIRST_PORT, N);

  const cli = (argv: string[]) => timeExec(world, "hub", [...PORTHOLE, ...argv], { cwd: REPO });
  const api = async (method: string, path: string, body?: object) => {
    const r = await world.exec("hub", [
      "curl",
      "-sS",
      "--fail-with-body",
      "--unix-socket",
      sock,
      "-X",
      method,
      "-H",
      "content-type: application/json",
      ...(body ? ["-d", JSON.stringify(body)] : []),
      "-w",
      "\n%{time_total}",
      `http://hub${path}`,
    ]);
    return Number(r.stdout.trim().split("\n").pop()) * 1000;
  };
  for (let rep = 0; rep < reps; rep++) {
    startup.push((await cli(["--version"])).ms);
    status.push((await cli(["status", "--json"])).ms);
    const viaCli = async () => {
      const add = ["forward", "add", "--name", "bench-cli", "--port", String(extra), "--peer", WEBDAV.peer];
      t.cliAdd.push((await cli(add)).ms);
      if (rep === 0) await expectThrough(world, extra, "a forward added with `porthole forward add`");
      t.cliRm.push((await cli(["forward", "rm", "bench-cli"])).ms);
    };
    const viaApi = async () => {
      t.apiAdd.push(
        await api("POST", "/v1/forwards", { name: "bench-api", port: extra + 1, peer: WEBDAV.peer }),
      );
      if (rep === 0) await expectThrough(world, extra + 1, "a forward added through the API");
      t.apiRm.push(await api("DELETE", "/v1/forwards/bench-api"));
    };
    if (rep % 2) {
      await viaApi();
      await viaCli();
    } else {
      await viaCli();
      await viaApi();
    }
    console.error(
      `rep ${rep + 1}: CLI add ${t.cliAdd.at(-1)?.toFixed(0)} rm ${t.cliRm.at(-1)?.toFixed(0)} ms; API add ${t.apiAdd.at(-1)?.toFixed(0)} rm ${t.apiRm.at(-1)?.toFixed(0)} ms`,
    );
  }
});

const count = N.toLocaleString("en-US");
console.log(`
### One change through the hub daemon (${count} forwards, nftables)

\`${command}\` — ${reps} reps, median (min–max). ${await machineNote()}

${markdownTable(
  ["change", "`porthole forward …` on the hub (whole CLI)", "the request alone (curl on the unix socket)"],
  [
    ["add a forward", spreadMs(t.cliAdd), spreadMs(t.apiAdd)],
    ["remove it", spreadMs(t.cliRm), spreadMs(t.apiRm)],
    [`\`porthole status\` (peers, ${count} forwards' counters, connections, probes)`, spreadMs(status), ""],
    ["CLI start-up alone (`porthole --version`)", spreadMs(startup), ""],
  ],
)}
`);

async function expectThrough(world: World, port: number, what: string): Promise<void> {
  if (!(await through(world, port)))
    throw new Error(`${what}: no answer from the peer through ${LAB.hubPublic}:${port}`);
}
