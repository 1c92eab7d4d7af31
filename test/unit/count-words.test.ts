// Counts are said with their noun in the right number: `porthole validate` printed "ok (1 peers,
// 1 forwards)" on the README's own example, apply "applied 1 changes", status "1 packets", and the
// hub's doctor "nothing on the hub drops the 0 forwards' traffic".
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { before, test } from "node:test";
import { count } from "../../src/spec/diagnostics.ts";
import { BIN, ensureBuilt } from "./helpers/built-cli.ts";

before(ensureBuilt);

test("count: one, many, none, and an irregular plural", () => {
  assert.equal(count(1, "peer"), "1 peer");
  assert.equal(count(2, "peer"), "2 peers");
  assert.equal(count(0, "forward"), "0 forwards");
  assert.equal(count(1, "process", "processes"), "1 process");
  assert.equal(count(3, "process", "processes"), "3 processes");
});

test("porthole validate on the README's example: one peer, one forward", () => {
  const seed = join(import.meta.dirname, "../../examples/seed.yaml");
  const r = spawnSync(process.execPath, [BIN, "validate", "--spec", seed], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${seed}: ok (1 peer, 1 forward)\n`);
});
