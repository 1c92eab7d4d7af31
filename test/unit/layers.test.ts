// The arrows of docs/architecture.md, checked: each src/ folder imports only the folders its row
// allows (so peer/ nothing from hub/, protocol/ only spec/ and net/), nothing imports cli/, hub/,
// peer/ and doctor/ reach the machine only through the Host interface, only host/ (and the lab) touches
// files or starts processes, the pure layers (net, spec, plan, compile, protocol, doctor, trace) open no file,
// socket or process, and no module re-exports another's names. An exception is listed by file, with the
// issue that removes it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const SRC = new URL("../../src/", import.meta.url).pathname;

/** Each folder's allowed imports (docs/architecture.md, "Layers"); cli may import everything. */
const ALLOWED: Record<string, string[]> = {
  net: [],
  spec: ["net"],
  compile: ["plan", "spec", "net"],
  plan: ["spec", "net"],
  host: ["plan", "net"],
  reconcile: ["protocol", "foreign", "compile", "plan", "host", "spec", "net"],
  foreign: ["protocol", "compile", "plan", "host", "spec", "net"],
  protocol: ["spec", "net"],
  hub: ["protocol", "reconcile", "foreign", "compile", "plan", "host", "spec", "net"],
  peer: ["protocol", "reconcile", "plan", "host", "spec", "net"],
  lab: ["plan", "host", "spec", "net"],
  doctor: ["hub", "protocol", "reconcile", "foreign", "peer", "compile", "plan", "host", "spec", "net"],
  trace: ["spec", "net"],
};

/** Imports that break a rule today, each with the issue that removes it (none left of issue 10's). */
const KNOWN = new Set<string>([]);

/** Node modules that reach the machine: files, processes, sockets, the OS. */
const IO =
  /^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|dgram|dns|os|worker_threads|cluster)$/;

/** Every import of one file: src/ folders and files (relative imports, static or dynamic) and bare modules. */
function imports(folder: string, file: string): { folders: string[]; paths: string[]; modules: string[] } {
  const text = readFileSync(join(SRC, folder, file), "utf8");
  const specs = [...text.matchAll(/(?:from |import\()"([^"]+)"/g)].map((m) => m[1] as string);
  const paths = specs.flatMap((s) => /^\.\.\/([a-z-]+\/.+)$/.exec(s)?.[1] ?? []);
  return {
    folders: paths.map((p) => p.split("/")[0] as string),
    paths,
    modules: specs.filter((s) => !s.startsWith(".")),
  };
}

const folders = readdirSync(SRC, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== "types")
  .map((d) => d.name);
const files = (folder: string) => readdirSync(join(SRC, folder)).filter((f) => f.endsWith(".ts"));

test("layers: every src/ folder has a row in the arrows table (cli may import everything)", () => {
  assert.deepEqual(
    folders.filter((f) => f !== "cli" && !(f in ALLOWED)),
    [],
  );
});

test("layers: each folder imports only what its row allows; nothing imports cli/", () => {
  const broken: string[] = [];
  const known: string[] = [];
  for (const folder of folders.filter((f) => f !== "cli")) {
    for (const file of files(folder)) {
      for (const to of new Set(imports(folder, file).folders)) {
        if (to === folder || ALLOWED[folder]?.includes(to)) continue;
        const arrow = `${folder}/${file} -> ${to}`;
        (KNOWN.has(arrow) ? known : broken).push(arrow);
      }
    }
  }
  assert.deepEqual(broken, [], "imports against docs/architecture.md");
  assert.deepEqual(known.sort(), [...KNOWN].sort(), "a known exception is gone: drop it from KNOWN");
});

/**
 * The daemons reach the machine through the Host interface they are given (a fake in unit tests), never
 * around it: of host/, hub/ and peer/ import only its types.
 */
const HOST_SURFACE = ["host/types.ts"];
test("layers: hub/, peer/ and doctor/ use the machine only through the Host interface (host/types.ts)", () => {
  const around: string[] = [];
  for (const folder of ["hub", "peer", "doctor"])
    for (const file of files(folder))
      for (const to of new Set(imports(folder, file).paths))
        if (to.startsWith("host/") && !HOST_SURFACE.includes(to)) around.push(`${folder}/${file} -> ${to}`);
  assert.deepEqual(around, [], "hub/, peer/ and doctor/ import host/ modules other than types.ts");
});

/** Node modules that touch the machine's filesystem or start processes. */
const FS_OR_PROCESS = /^(node:)?(fs|fs\/promises|child_process)$/;
/**
 * Folders besides host/ that may: lab/ is itself a machine-driving tool (it builds network namespaces,
 * starts and reaps the processes that hold them, keeps its state under /run), like a test fixture.
 */
const FS_EXCEPTIONS = ["lab"];

test("layers: only host/ (and the lab) touches the filesystem or starts processes", () => {
  const found = folders
    .filter((f) => f !== "host" && !FS_EXCEPTIONS.includes(f))
    .flatMap((folder) =>
      files(folder).flatMap((file) =>
        imports(folder, file)
          .modules.filter((m) => FS_OR_PROCESS.test(m))
          .map((m) => `${folder}/${file}: ${m}`),
      ),
    );
  assert.deepEqual(found, [], "reach files and processes through host/ (src/host/files.ts, processes.ts)");
});

test("layers: net, spec, plan, compile, foreign, protocol, doctor and trace touch no file, socket or process", () => {
  const io = ["net", "spec", "plan", "compile", "foreign", "protocol", "doctor", "trace"].flatMap((folder) =>
    files(folder).flatMap((file) =>
      imports(folder, file)
        .modules.filter((m) => IO.test(m))
        .map((m) => `${folder}/${file}: ${m}`),
    ),
  );
  assert.deepEqual(io, []);
});

/** Re-exports left by a move, each with the change that removes it. */
const REEXPORTS = new Set<string>([]);

test("layers: names are imported from the module that defines them, never re-exported", () => {
  const found = folders.flatMap((folder) =>
    files(folder)
      .filter((file) =>
        /^export (type )?\{[^}]*\}( from |;)|^export \* /m.test(
          readFileSync(join(SRC, folder, file), "utf8"),
        ),
      )
      .map((file) => `${folder}/${file}`),
  );
  assert.deepEqual(
    found.filter((f) => !REEXPORTS.has(f)),
    [],
    "import it from its home module instead",
  );
  assert.deepEqual(found.sort(), [...REEXPORTS].sort(), "a known re-export is gone: drop it from REEXPORTS");
});

test("layers: the checker sees static and dynamic imports", () => {
  const hubClient = imports("cli", "hub-client.ts");
  assert.ok(hubClient.folders.includes("hub"), "static");
  assert.ok(hubClient.modules.includes("node:net"));
  assert.ok(imports("hub", "forwards.ts").paths.includes("host/types.ts"), "file paths, for the Host rule");
  const dynamic = files("cli").some((f) => readFileSync(join(SRC, "cli", f), "utf8").includes('import("../'));
  assert.ok(dynamic, "the CLI loads command modules with import(); the pattern must see them");
});
