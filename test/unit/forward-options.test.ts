// The options `forward add` and `expose` share: what a user types becomes the request's fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import { addSharedForwardOptions, sharedForwardFields } from "../../src/cli/forward-options.ts";

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
