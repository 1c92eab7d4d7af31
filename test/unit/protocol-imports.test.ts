// The wire contract has a home of its own: the peer speaks to the hub through src/protocol, never by
// importing the hub's code, and the contract depends on nothing above it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const SRC = new URL("../../src/", import.meta.url).pathname;

/** The src/ folders a folder's files import from (relative imports only). */
function importedFolders(folder: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of readdirSync(join(SRC, folder)).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(SRC, folder, file), "utf8");
    for (const m of text.matchAll(/from "\.\.\/([a-z-]+)\//g)) {
      const list = out.get(m[1] as string) ?? [];
      out.set(m[1] as string, [...list, `${folder}/${file}`]);
    }
  }
  return out;
}

test("peer/ imports nothing from hub/; protocol/ only from spec/ and net/", () => {
  assert.deepEqual(importedFolders("peer").get("hub"), undefined);
  const protocol = importedFolders("protocol");
  assert.deepEqual(
    [...protocol.keys()].filter((f) => !["spec", "net"].includes(f)),
    [],
    JSON.stringify([...protocol]),
  );
});
