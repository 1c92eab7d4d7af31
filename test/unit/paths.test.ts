// Where commands find the spec: `apply`/`validate` take ./porthole.yaml when present; the hub's own
// spec (its daemon's store) never does, so a hub command run in some folder cannot adopt that folder's file.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hubSpecPath, specPath } from "../../src/cli/paths.ts";

test("a porthole.yaml in the working directory is apply's spec, never the hub daemon's", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-paths-"));
  const saved = {
    cwd: process.cwd(),
    spec: process.env.PORTHOLE_SPEC,
    config: process.env.PORTHOLE_CONFIG_DIR,
  };
  t.after(() => {
    process.chdir(saved.cwd);
    for (const [k, v] of [
      ["PORTHOLE_SPEC", saved.spec],
      ["PORTHOLE_CONFIG_DIR", saved.config],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, "porthole.yaml"), "version: 1\n");
  process.chdir(dir);
  delete process.env.PORTHOLE_SPEC;
  process.env.PORTHOLE_CONFIG_DIR = "/srv/hub-config";
  assert.equal(specPath(), "porthole.yaml");
  assert.equal(hubSpecPath(), "/srv/hub-config/porthole.yaml");
  process.env.PORTHOLE_SPEC = "/srv/other.yaml";
  assert.equal(specPath(), "/srv/other.yaml");
  assert.equal(hubSpecPath(), "/srv/other.yaml", "--spec / $PORTHOLE_SPEC is honoured by both");
});
