// The CLI's bundle, split at the dynamic imports of src/cli/commands.ts: a run evaluates the entry and
// the chunks of its one command. esbuild splits only ESM, so each file of the split build is then
// turned into CommonJS (import() becomes require()): node's CommonJS loader reads a file synchronously
// and starts without the ESM loader, ~10 ms of CPU less per run than the same chunks as ESM
// (bench/README.md, "start-up"). bin/package.json makes bin/porthole.js CommonJS too.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { build, transform } from "esbuild";

rmSync("dist", { recursive: true, force: true });
const { outputFiles } = await build({
  entryPoints: { porthole: "src/cli/main.ts" },
  outdir: "dist",
  outExtension: { ".js": ".cjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node18",
  // Inline, so the CommonJS step below maps its output back to the TypeScript sources.
  sourcemap: "inline",
  write: false,
  logLevel: "warning",
});
for (const f of outputFiles) {
  const out = await transform(f.text, {
    format: "cjs",
    target: "node18",
    supported: { "dynamic-import": false },
    sourcemap: "external",
    sourcefile: f.path,
  });
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(f.path, `${out.code}//# sourceMappingURL=${basename(f.path)}.map\n`);
  writeFileSync(`${f.path}.map`, out.map);
}
