// Reads batched into one shell (host/read-batch.ts) must answer what each program run alone answers:
// its exit status and its stdout to the byte, whatever the words and input hold.
import assert from "node:assert/strict";
import { test } from "node:test";
import { batchScript, read, splitBatch } from "../../src/host/read-batch.ts";
import { run } from "../../src/host/run.ts";

const READS: { argv: string[]; input?: string }[] = [
  { argv: ["printf", "%s", "no newline at the end"] },
  { argv: ["printf", "two\\nlines\\n"] },
  { argv: ["printf", ""] },
  { argv: ["sh", "-c", 'echo "$1"; exit 3', "sh", 'it\'s $HOME `id` "quoted" $(true) ; | & \\ \n * ?'] },
  { argv: ["cat"], input: "input with 'quotes', $VARS, `ticks`\nand\n\na trailing line break\n" },
  { argv: ["cat"], input: "" },
  { argv: ["sh", "-c", "cat; echo; echo done >&2"], input: "-n" },
  { argv: ["porthole-no-such-program", "x"] },
  { argv: ["sh", "-c", "kill -TERM $$"] },
  { argv: ["false"] },
  ...Array.from({ length: 12 }, (_, i) => ({ argv: ["echo", `argument ${i + 1} past nine`] })),
];

test("reads batched in one turn answer what each program alone answers (status and stdout)", async () => {
  const alone = await Promise.all(READS.map((r) => run(r.argv, { input: r.input, allowFail: true })));
  const batched = await Promise.all(READS.map((r) => read(r.argv, r.input)));
  assert.deepEqual(
    batched.map((r) => [r.code, r.stdout]),
    alone.map((r) => [r.code, r.stdout]),
  );
  // The statuses are the ones meant (the comparison alone would pass on two readers equally wrong).
  assert.deepEqual(
    batched.slice(3, 10).map((r) => r.code),
    [3, 0, 0, 0, 127, 143, 1],
  );
  assert.equal(batched[0]?.stdout, "no newline at the end");
  assert.equal(batched[4]?.stdout, READS[4]?.input);
});

test("a read alone is run as it is; reads in later turns are batches of their own", async () => {
  assert.deepEqual(await read(["printf", "one"]), { code: 0, stdout: "one", stderr: "" });
  const first = read(["echo", "a"]);
  await new Promise((r) => setImmediate(r));
  const second = await Promise.all([read(["echo", "b"]), read(["echo", "c"])]);
  assert.equal((await first).stdout, "a\n");
  assert.deepEqual(
    second.map((r) => r.stdout),
    ["b\n", "c\n"],
  );
});

test("the script names positions only; output it cannot split is refused (the reads then run one by one)", () => {
  const { script, args } = batchScript([
    { argv: ["nft", "list", "x; rm -rf /"] },
    { argv: ["cat"], input: "$(id)" },
  ]);
  assert.doesNotMatch(script, /rm|id\)/);
  assert.deepEqual(args, ["nft", "list", "x; rm -rf /", "cat", "$(id)"]);
  assert.deepEqual(splitBatch("out\n\nS 0\n\nS 2\n", "S", 2), [
    { code: 0, stdout: "out\n", stderr: "" },
    { code: 2, stdout: "", stderr: "" },
  ]);
  assert.throws(() => splitBatch("out\n\nS 0\n", "S", 2), /no status for read 2 of 2/);
  assert.throws(() => splitBatch("\nS 0\nmore", "S", 1), /output after the last read/);
});
