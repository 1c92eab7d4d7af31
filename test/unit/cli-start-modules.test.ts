// What a peer command loads before it asks the hub: `expose --help` and an argument refused before
// anything is asked load no http client (node's, ~4 ms of a run's CPU: bench/README.md, start-up);
// a command that asks the hub does, which shows the test can see it. Node's own list of the built-in
// modules it loaded (process.moduleLoadList), printed at exit by a preload, on the built CLI.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { scratchMachines } from "./helpers/scratch-machine.ts";

const machine = scratchMachines("modules");
const dir = mkdtempSync(join(tmpdir(), "porthole-modules-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const preload = join(dir, "modules.cjs");
writeFileSync(
  preload,
  "process.on('exit', () => process.stderr.write('node modules: ' + process.moduleLoadList.join(',') + '\\n'));\n",
);
before(ensureBuilt);

/** The built-in modules the run loaded, from the preload's line on stderr. */
function loaded(args: string[]): { status: number | null; modules: string[] } {
  const r = machine("peer").run(args, undefined, { NODE_OPTIONS: `--require ${preload}` });
  const line = r.stderr.split("\n").find((l) => l.startsWith("node modules: "));
  assert.ok(line, `no module list: ${r.stderr}`);
  return { status: r.status, modules: line.slice("node modules: ".length).split(",") };
}

const HTTP_CLIENT = "NativeModule _http_client";

test("a peer's command that does not ask the hub loads no http client", () => {
  for (const args of [
    ["expose", "--help"],
    ["unexpose", "--help"],
    ["exposed", "--help"],
  ]) {
    const r = loaded(args);
    assert.equal(r.status, 0, args.join(" "));
    assert.ok(!r.modules.includes(HTTP_CLIENT), `${args.join(" ")} loaded node's http client`);
  }
  // Refused before anything is asked (usage error).
  const refused = loaded(["expose", "80", "--to", "0"]);
  assert.equal(refused.status, 2);
  assert.ok(!refused.modules.includes(HTTP_CLIENT), "a refused --to loaded node's http client");
});

test("a peer's command that asks the hub loads it (the list shows it)", () => {
  // The scratch peer's hub does not answer: exit 3, after asking.
  const r = loaded(["exposed"]);
  assert.equal(r.status, 3);
  assert.ok(r.modules.includes(HTTP_CLIENT));
});
