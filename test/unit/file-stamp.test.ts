// Host["files"].stamp and its readers: a file read once is not read again while its stamp is unchanged,
// and any write, rename or chmod changes the stamp (so the next load reads it).
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileStamp, hostFiles, STAMP_SETTLED_MS } from "../../src/host/files.ts";
import type { Host } from "../../src/host/types.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { readApplied, writeApplied } from "../../src/reconcile/state.ts";

const later = () => Date.now() + STAMP_SETTLED_MS + 1000;
/** Past the kernel's timestamp tick (coarse: up to 10 ms), as the settled check guarantees in use. */
const tick = () => new Promise((r) => setTimeout(r, 25));

test("fileStamp: null when absent or changed lately; changes with every write, rename and chmod", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-stamp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, "a.yaml");
  assert.equal(await fileStamp(f, later()), null);
  writeFileSync(f, "one\n");
  assert.equal(await fileStamp(f), null, "just written: its times may not show the next write");
  const s1 = await fileStamp(f, later());
  assert.ok(s1);
  assert.equal(await fileStamp(f, later()), s1, "unchanged: the same stamp");
  await tick();
  writeFileSync(f, "two\n"); // same size, same inode
  const s2 = await fileStamp(f, later());
  assert.ok(s2 && s2 !== s1);
  await tick();
  chmodSync(f, 0o600);
  const s3 = await fileStamp(f, later());
  assert.ok(s3 && s3 !== s2);
  await tick();
  writeFileSync(join(dir, "b"), "two\n");
  renameSync(join(dir, "b"), f);
  const s4 = await fileStamp(f, later());
  assert.ok(s4 && s4 !== s3);
});

/** The host's files, counting reads, with a stamp the test sets (null: none, read every time). */
function countingFiles(texts: Map<string, string>) {
  const c = { reads: 0, stamp: null as string | null };
  const files: Host["files"] = {
    ...hostFiles,
    read: async (p) => {
      c.reads++;
      return texts.get(p) ?? null;
    },
    write: async (p, text) => void texts.set(p, text),
    stamp: async () => c.stamp,
  };
  return { files, c };
}

const SPEC = `version: 1
hub:
  endpoint: 203.0.113.1
  publicKey: ${"A".repeat(43)}=
peers: []
forwards: []
`;

test("SpecStore.load reads the file again only when its stamp changed, or has none", async () => {
  const texts = new Map([["/etc/porthole.yaml", SPEC]]);
  const { files, c } = countingFiles(texts);
  const store = new SpecStore(files, "/etc/porthole.yaml", "/state");
  const first = await store.load();
  await store.load();
  assert.equal(c.reads, 2, "no stamp: read every time");
  c.stamp = "s1";
  await store.load();
  assert.equal((await store.load()).spec, first.spec);
  assert.equal(c.reads, 3, "the same stamp: not read again");
  texts.set("/etc/porthole.yaml", SPEC.replace("203.0.113.1", "203.0.113.2"));
  c.stamp = "s2";
  assert.equal((await store.load()).spec.hub.endpoint.host, "203.0.113.2");
  assert.equal(c.reads, 4);
  c.stamp = null; // changed lately: read, and the stamp read with it is forgotten
  await store.load();
  c.stamp = "s2";
  await store.load();
  assert.equal(c.reads, 6);
});

test("readApplied reads the record again only when its stamp changed", async () => {
  const texts = new Map<string, string>();
  const { files, c } = countingFiles(texts);
  const host = { files } as Host;
  const record = { host: "hub", role: "hub", specText: "x", files: [] } as unknown as Parameters<
    typeof writeApplied
  >[2];
  await writeApplied(host, "/state", record);
  c.stamp = "s1";
  const a = await readApplied(host, "/state");
  const b = await readApplied(host, "/state");
  assert.equal(a, b);
  assert.equal(c.reads, 1, "the same stamp: not read again");
  texts.set("/state/applied.json", JSON.stringify({ ...record, host: "other" }));
  c.stamp = "s2";
  assert.equal((await readApplied(host, "/state"))?.host, "other");
  assert.equal(c.reads, 2);
});
