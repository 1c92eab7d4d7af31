// What `npm pack` ships installs and runs on its own: the tarball, installed globally into an empty
// prefix with no registry at hand, gives a `porthole` that starts and does real work.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const repo = resolve(import.meta.dirname, "../..");

test("npm pack → npm install -g --offline → porthole --version and porthole render work", () => {
  const tmp = mkdtempSync(join(tmpdir(), "porthole-pack-"));
  try {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: repo, encoding: "utf8" }),
    )[0] as { filename: string; size: number; files: { path: string }[] };
    const paths = packed.files.map((f) => f.path).sort();
    // The bundle is split per command (src/cli/commands.ts): the entry plus its chunks, no source maps.
    const chunks = paths.filter((p) => /^dist\/chunks\/[\w-]+\.cjs$/.test(p));
    assert.ok(chunks.length > 0, `no chunks packed: ${paths.join(", ")}`);
    assert.deepEqual(
      paths.filter((p) => !chunks.includes(p)),
      ["README.md", "bin/package.json", "bin/porthole.js", "dist/porthole.cjs", "package.json"],
    );

    const prefix = join(tmp, "prefix");
    // --offline: a package with no dependencies needs nothing from a registry.
    execFileSync(
      "npm",
      [
        "install",
        "-g",
        "--offline",
        "--no-audit",
        "--no-fund",
        "--prefix",
        prefix,
        join(tmp, packed.filename),
      ],
      { encoding: "utf8" },
    );
    const installed = join(prefix, "lib/node_modules/porthole");
    assert.deepEqual(
      readdirSync(installed).sort(),
      ["README.md", "bin", "dist", "package.json"],
      "no node_modules",
    );
    const bin = join(prefix, "bin/porthole");
    const version = spawnSync(bin, ["--version"], { encoding: "utf8", cwd: tmp });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), "0.1.0");

    const out = join(tmp, "render");
    const render = spawnSync(
      bin,
      ["render", "--host", "hub", "--spec", join(repo, "examples/seed.yaml"), "--out", out],
      { encoding: "utf8", cwd: tmp },
    );
    assert.equal(render.status, 0, render.stderr);
    assert.deepEqual(readdirSync(out).sort(), ["99-porthole.conf", "porthole.nft", "wg0.conf"]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
