// Golden files: every file porthole renders for every host of every case under test/golden/ is pinned.
// UPDATE_GOLDEN=1 rewrites them; review the diff by hand before committing it.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { GOLDEN_DIR, goldenCases, renderCase } from "./helpers/golden.ts";

const update = process.env.UPDATE_GOLDEN === "1";
const REQUIRED = [
  "seed",
  "udp-range",
  "transparent",
  "tcp-udp",
  "allow-list",
  "mesh-off",
  "iptables",
  "dual-stack",
];

const hostDirs = (dir: string) =>
  readdirSync(dir)
    .filter((d) => statSync(join(dir, d)).isDirectory())
    .sort();

test("the required golden cases exist", () => {
  const cases = goldenCases();
  for (const c of REQUIRED) assert.ok(cases.includes(c), `test/golden/${c} is missing`);
});

for (const name of goldenCases()) {
  describe(`golden ${name}`, () => {
    const rendered = renderCase(name);
    const caseDir = join(GOLDEN_DIR, name);

    if (update) {
      test("rewrite", () => {
        for (const host of hostDirs(caseDir)) rmSync(join(caseDir, host), { recursive: true });
        for (const [host, files] of Object.entries(rendered)) {
          mkdirSync(join(caseDir, host), { recursive: true });
          for (const [file, text] of Object.entries(files)) writeFileSync(join(caseDir, host, file), text);
        }
      });
      return;
    }

    test("one directory per host, no more", () => {
      assert.deepEqual(hostDirs(caseDir), Object.keys(rendered).sort());
    });

    for (const [host, files] of Object.entries(rendered)) {
      test(`${host}: the same files, no file missing or extra`, () => {
        const dir = join(caseDir, host);
        const have = existsSync(dir) ? readdirSync(dir).sort() : [];
        assert.deepEqual(have, Object.keys(files).sort(), `files in test/golden/${name}/${host}`);
      });
      for (const [file, text] of Object.entries(files)) {
        test(`${host}/${file}`, () => {
          const path = join(caseDir, host, file);
          assert.ok(existsSync(path), `${path} is missing (UPDATE_GOLDEN=1 writes it)`);
          assert.equal(text, readFileSync(path, "utf8"), `${path} differs (UPDATE_GOLDEN=1 rewrites it)`);
        });
      }
    }
  });
}
