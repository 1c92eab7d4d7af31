// The options `forward add` and `expose` share: what a user types becomes the request's fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import { EXIT, UserError } from "../../src/cli/errors.ts";
import { addSharedForwardOptions, sharedForwardFields } from "../../src/cli/forward-options.ts";
import { checkSpan } from "../../src/cli/peer-args.ts";

function parse(args: string[]) {
  const cmd = addSharedForwardOptions(new Command("add").exitOverride());
  cmd.parse(args, { from: "user" });
  return sharedForwardFields(cmd.opts());
}

test("--allow (several), --name and --shadow-hub-service become allowFrom, name and shadowHubService", () => {
  assert.deepEqual(
    parse(["--allow", "198.51.100.0/24", "203.0.113.7/32", "--name", "web", "--shadow-hub-service"]),
    { allowFrom: ["198.51.100.0/24", "203.0.113.7/32"], name: "web", shadowHubService: true },
  );
});

test("left out, they stay unset: the hub's defaults apply (anyone, a generated name, no forcing)", () => {
  assert.deepEqual(parse([]), { allowFrom: undefined, name: undefined, shadowHubService: undefined });
});

test("a target range of another span is refused before the hub is asked, in the spec's words (exit 2: an option bad beside another)", () => {
  assert.doesNotThrow(() => checkSpan("6000-6010", "7000-7010", "--to"));
  assert.doesNotThrow(() => checkSpan(80, "8080", "--to"));
  assert.throws(
    () => checkSpan("6000-6010", "7000", "--target-port"),
    (e: Error) =>
      e instanceof UserError &&
      e.code === EXIT.usage &&
      e.message ===
        '--target-port: "7000" spans 1 port but port 6000-6010 spans 11; ranges map 1:1, so give one of equal length',
  );
});
