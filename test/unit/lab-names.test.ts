// A lab command for a lab that does not exist names the labs that do, and how to pick one (--name).
import assert from "node:assert/strict";
import { test } from "node:test";
import { noLab } from "../../src/cli/lab-commands.ts";

test("no lab by that name: the default's name says --name picks another and lists the running labs", () => {
  assert.equal(
    noLab("porthole", ["nb1"]),
    'there is no lab named "porthole" (the default; --name picks another); running: nb1: add --name nb1, or start this one with `porthole lab up`',
  );
  assert.equal(
    noLab("x1", ["nb1", "nb2"]),
    'there is no lab named "x1"; running: nb1, nb2: add --name nb1 or --name nb2, or start this one with `porthole lab up --name x1`',
  );
  assert.equal(
    noLab("porthole", []),
    'there is no lab named "porthole" (the default; --name picks another); no lab runs: start one with `porthole lab up`',
  );
});
