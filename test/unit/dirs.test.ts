// Making a file's directories: missing parents are made, one mkdir each; where mkdir cannot make one
// the error comes back at once, naming that directory (Node's recursive mkdir spun forever on /proc).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { makeDirs, makeDirsNow } from "../../src/host/dirs.ts";
import { writeAtomic } from "../../src/host/files.ts";
import { withLock } from "../../src/host/lock.ts";

const work = mkdtempSync(join(tmpdir(), "porthole-dirs-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("missing parents are made; a directory that exists is no error", async () => {
  await makeDirs(join(work, "a/b/c"), 0o700);
  assert.ok(statSync(join(work, "a/b/c")).isDirectory());
  assert.equal(statSync(join(work, "a/b")).mode & 0o777, 0o700);
  await makeDirs(join(work, "a/b/c"));
  makeDirsNow(join(work, "a/b/d"));
  assert.ok(statSync(join(work, "a/b/d")).isDirectory());
});

test("a file in the path: ENOTDIR, naming the directory that could not be made", async () => {
  writeFileSync(join(work, "f"), "");
  await assert.rejects(makeDirs(join(work, "f/x")), { code: "ENOTDIR", path: join(work, "f/x") });
  assert.throws(() => makeDirsNow(join(work, "f/x/y")), { code: "ENOTDIR", path: join(work, "f/x") });
});

test("/proc refuses a new directory with ENOENT under a parent that exists: thrown at once", async () => {
  await assert.rejects(makeDirs("/proc/porthole-x/y"), { code: "ENOENT", path: "/proc/porthole-x" });
  assert.throws(() => makeDirsNow("/proc/porthole-x"), { code: "ENOENT", path: "/proc/porthole-x" });
});

test("porthole's own directories are private whatever the umask: those made for a private file or a lock", async () => {
  const old = process.umask(0o022); // a root shell's
  try {
    await writeAtomic(join(work, "etc/porthole/private.key"), "k\n", 0o600);
    assert.equal(statSync(join(work, "etc/porthole")).mode & 0o777, 0o700);
    await withLock(join(work, "var/lib/porthole/apply.lock"), async () => {});
    assert.equal(statSync(join(work, "var/lib/porthole")).mode & 0o777, 0o700);
    // A file others may read (the unit file) leaves its new directories to the umask.
    await writeAtomic(join(work, "root/etc/systemd/system/porthole-hub.service"), "[Unit]\n", 0o644);
    assert.equal(statSync(join(work, "root/etc/systemd/system")).mode & 0o777, 0o755);
  } finally {
    process.umask(old);
  }
});
