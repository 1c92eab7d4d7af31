// Outcomes of changes by request id across a hub daemon restart (src/hub/request-log.ts): a peer whose
// answer was lost asks again after the restart and hears what happened, instead of "unknown" (which
// makes it send the change again: a change that happened, reported as failed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { KEEP_MS, type OutcomeFile, RequestLog } from "../../src/hub/request-log.ts";

/** The state file as the Host would hold it. */
function memFile(): OutcomeFile & { text: string | null } {
  const f = {
    text: null as string | null,
    read: async () => f.text,
    write: async (t: string) => {
      f.text = t;
    },
  };
  return f;
}

const PEER = '{"kind":"peer","name":"rpi","admin":false} req-0123456789';
const ROOT = '{"kind":"root"} req-abcdefghij';
const added = { status: 201, body: '{"name":"rpi-tcp-80"}' };

test("a peer's outcome survives a restart: the same id is answered from the file, not run again", async () => {
  const file = memFile();
  const before = new RequestLog(Date.now, file);
  assert.deepEqual(await before.once(PEER, async () => added), { outcome: added, replayed: false });

  const after = new RequestLog(Date.now, file); // the restarted daemon
  assert.deepEqual(await after.state(PEER), { state: "done", status: 201, body: { name: "rpi-tcp-80" } });
  let ran = 0;
  const again = await after.once(PEER, async () => {
    ran++;
    return { status: 409, body: '{"error":"already forwarded"}' };
  });
  assert.deepEqual(again, { outcome: added, replayed: true });
  assert.equal(ran, 0);
});

test("root's outcomes (a device's config holds its private key) stay in memory only", async () => {
  const file = memFile();
  const log = new RequestLog(Date.now, file);
  const secret = { status: 201, body: '{"config":"PrivateKey = c2VjcmV0"}' };
  await log.once(ROOT, async () => secret, false);
  await log.once(PEER, async () => added);
  assert.doesNotMatch(file.text ?? "", /PrivateKey/);
  assert.equal((await new RequestLog(Date.now, file).state(ROOT)).state, "unknown");
  assert.equal((await log.state(ROOT)).state, "done", "still answered by the daemon that ran it");
});

test("outcomes older than KEEP_MS are not read back; a damaged file is no outcomes", async () => {
  const file = memFile();
  let now = 1_000_000;
  await new RequestLog(() => now, file).once(PEER, async () => added);
  now += KEEP_MS + 1;
  assert.equal((await new RequestLog(() => now, file).state(PEER)).state, "unknown");
  file.text = "{not json";
  const log = new RequestLog(() => now, file);
  assert.equal((await log.state(PEER)).state, "unknown");
  await log.once(PEER, async () => added);
  assert.equal((await new RequestLog(() => now, file).state(PEER)).state, "done", "rewritten");
});
