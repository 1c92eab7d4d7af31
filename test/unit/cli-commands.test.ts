// The CLI loads only the module of the command being run (src/cli/commands.ts): the table that says
// which module registers which command must match the modules, or a command would go missing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import { COMMAND_GROUP, GROUPS, groupsFor, registerGroup } from "../../src/cli/commands.ts";
import { plainStatusOptions } from "../../src/cli/status-command.ts";

async function namesAfter(groups: readonly Parameters<typeof registerGroup>[1][]): Promise<string[]> {
  const program = new Command("porthole");
  for (const g of groups) await registerGroup(program, g);
  return program.commands.map((c) => c.name());
}

test("every top-level command is in the table, with the group that registers it", async () => {
  const all = await namesAfter(GROUPS);
  assert.deepEqual([...all].sort(), Object.keys(COMMAND_GROUP).sort());
  for (const [name, group] of Object.entries(COMMAND_GROUP)) {
    assert.deepEqual(groupsFor([name, "--help"]), [group], name);
    assert.ok((await namesAfter([group])).includes(name), `group ${group} registers ${name}`);
  }
});

test("a command line loads its group; --version none; help, nothing or an unknown word all", () => {
  assert.deepEqual(groupsFor(["expose", "80", "--to", "8080"]), ["agent"]);
  assert.deepEqual(groupsFor(["status", "--json"]), ["status"]);
  assert.deepEqual(groupsFor(["--version"]), []);
  assert.deepEqual(groupsFor(["-V"]), []);
  for (const args of [[], ["--help"], ["--version", "--help"], ["bogus"], ["help", "expose"]])
    assert.deepEqual(groupsFor(args), GROUPS, args.join(" "));
});

test("`peer` gets both the hub's add|rm|ls and the agent's run", async () => {
  const program = new Command("porthole");
  await registerGroup(program, "peer");
  const peer = program.commands.find((c) => c.name() === "peer");
  assert.deepEqual(peer?.commands.map((c) => c.name()).sort(), ["add", "ls", "rm", "run"]);
});

test("`status` without commander: parseArgs takes only what commander would read the same way", async () => {
  // Taken: the declared options, in either spelling, repeated.
  assert.deepEqual(plainStatusOptions([]), {});
  assert.deepEqual(plainStatusOptions(["--json", "--all"]), { json: true, all: true });
  assert.deepEqual(plainStatusOptions(["--spec", "a.yaml", "--json", "--json"]), {
    spec: "a.yaml",
    json: true,
  });
  assert.deepEqual(plainStatusOptions(["--spec=a.yaml"]), { spec: "a.yaml" });
  // Left to commander (its help, its errors, porthole's extra-argument refusal): anything else.
  for (const args of [
    ["--help"],
    ["-h"],
    ["--spec"],
    ["--spec", "--json"],
    ["--bogus"],
    ["--json=1"],
    ["-j"],
    ["x"],
  ])
    assert.equal(plainStatusOptions(args), null, args.join(" "));
  // One table for both: commander's `status` declares exactly the options parseArgs takes.
  const program = new Command("porthole");
  await registerGroup(program, "status");
  const status = program.commands.find((c) => c.name() === "status");
  assert.deepEqual(status?.options.map((o) => o.long).sort(), ["--all", "--json", "--spec"]);
});
