// `porthole lab exec|shell|ls`: a person's way into a lab host, run as the CLI, in a bare lab world.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { run } from "../../src/host/run.ts";
import { createWorld } from "../../src/lab/create.ts";
import { labProblems } from "../../src/lab/prereq.ts";
import { destroyWorld } from "../../src/lab/teardown.ts";
import { inCI } from "../unit/helpers/tools.ts";

const problems = labProblems();
const skip = problems.length > 0 && !inCI() ? `the lab needs: ${problems.join("; ")}` : false;
const BIN = [process.execPath, join(resolve(import.meta.dirname, "../.."), "bin/porthole.js")];
const porthole = (args: string[], input?: string) => run([...BIN, ...args], { allowFail: true, input });

test("lab exec runs in the host's network and paths, lab shell gives a shell there, lab ls lists the lab", {
  skip,
  timeout: 120_000,
}, async () => {
  if (problems.length) assert.fail(`lab prerequisites missing (CI never skips): ${problems.join("; ")}`);
  const name = `lc${randomBytes(2).toString("hex")}`;
  try {
    const world = await createWorld(name);
    const addr = await porthole([
      "lab",
      "exec",
      "--name",
      name,
      "hub",
      "--",
      "ip",
      "-br",
      "addr",
      "show",
      "ens3",
    ]);
    assert.equal(addr.code, 0, addr.stderr);
    assert.match(addr.stdout, /203\.0\.113\.1\/24/, "the hub's own interface, not this machine's");
    const env = await porthole([
      "lab",
      "exec",
      "--name",
      name,
      "peer",
      "--",
      "sh",
      "-c",
      "echo $PORTHOLE_LAB_HOST $PORTHOLE_CONFIG_DIR",
    ]);
    assert.equal(env.stdout.trim(), `peer ${world.hostRecord("peer").configDir}`);
    // README: `porthole lab exec hub -- porthole status`: `porthole` there is the build running the lab
    // (from a checkout, `node bin/porthole.js lab …`), not an installed one or none.
    const which = await porthole([
      "lab",
      "exec",
      "--name",
      name,
      "hub",
      "--",
      "sh",
      "-c",
      "command -v porthole && porthole lab --help",
    ]);
    assert.equal(which.code, 0, which.stderr);
    assert.equal(which.stdout.split("\n")[0], join(world.dir, "bin", "porthole"));
    assert.match(which.stdout, /Usage: porthole lab/);
    const again = await porthole(["lab", "up", "--name", name]);
    assert.equal(
      again.code,
      1,
      "a lab name in use is input to change (exit 1), not a failed host command (3)",
    );
    assert.match(
      again.stderr,
      new RegExp(`lab ${name} already exists .*: \`porthole lab down --name ${name}\` removes it`),
    );
    const failing = await porthole(["lab", "exec", "--name", name, "client", "--", "sh", "-c", "exit 7"]);
    assert.equal(failing.code, 7, "the command's exit code is the exit code");

    const shell = await porthole(["lab", "shell", "--name", name, "client"], "ip -br addr show\nexit 4\n");
    assert.equal(shell.code, 4);
    assert.match(shell.stdout, /203\.0\.113\.2/, "the shell runs in the client's network");

    const ls = await porthole(["lab", "ls"]);
    assert.match(ls.stdout, /^NAME +HOSTS UP +PROCESSES +CREATED$/m);
    assert.match(ls.stdout, new RegExp(`^${name} +client,hub,home,peer `, "m"));
    const json = JSON.parse((await porthole(["lab", "ls", "--json"])).stdout) as { name: string }[];
    assert.ok(json.some((w) => w.name === name));

    const wrongHost = await porthole(["lab", "exec", "--name", name, "vps", "--", "true"]);
    assert.equal(wrongHost.code, 2);
    assert.match(wrongHost.stderr, /HOST: "vps" is not accepted; use one of: client, hub, home, peer/);
    // Another lab's name (or none, the default "porthole"): the running labs are named, and --name.
    const other = await porthole(["lab", "exec", "--name", `${name}x`, "hub", "--", "true"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, new RegExp(`there is no lab named "${name}x"; running: [^\\n]*\\b${name}\\b`));
    assert.match(other.stderr, new RegExp(`add [^\\n]*--name ${name}\\b`));
    const otherStatus = await porthole(["lab", "status", "--name", `${name}x`]);
    assert.equal(otherStatus.code, 1);
    assert.match(
      otherStatus.stderr,
      new RegExp(`there is no lab named "${name}x"; running: [^\\n]*\\b${name}\\b`),
    );
  } finally {
    await destroyWorld(name);
  }
  const gone = await porthole(["lab", "exec", "--name", name, "hub", "--", "true"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, new RegExp(`there is no lab named "${name}"`));
  const goneStatus = await porthole(["lab", "status", "--name", name]);
  assert.equal(goneStatus.code, 1, "not a failed host command (3)");
  assert.match(goneStatus.stderr, new RegExp(`there is no lab named "${name}"`));
});
