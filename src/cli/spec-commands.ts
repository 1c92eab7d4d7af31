// validate, render: the spec and what it compiles to.
import { join } from "node:path";
import type { Command } from "commander";
import { compile, UnknownHostError } from "../compile/compile.ts";
import { renderFiles } from "../compile/render.ts";
import { count } from "../spec/diagnostics.ts";
import { NameField } from "../spec/fields.ts";
import { PathText, valid } from "./arg.ts";
import { UserError } from "./errors.ts";
import { givenOutDir, writeGivenFile } from "./given-file.ts";
import { keyFile } from "./paths.ts";
import { readSpec } from "./spec-file.ts";
import { whoAmI } from "./who-am-i.ts";

export function registerSpecCommands(program: Command): void {
  program
    .command("validate")
    .description("check a spec and print every problem with its line:column (exit 1 if any)")
    .option(
      "--spec <file>",
      "the spec (default: ./porthole.yaml, else /etc/porthole/porthole.yaml)",
      valid("--spec", PathText),
    )
    .action((o: { spec?: string }) => {
      const { spec, file } = readSpec(o.spec);
      console.log(
        `${file}: ok (${count(spec.peers.length, "peer")}, ${count(spec.forwards.length, "forward")})`,
      );
    });

  program
    .command("render")
    .description("write the files one host needs (wg-quick config, firewall rules, sysctl), or print them")
    .requiredOption("--host <name>", 'the hub ("hub" or its name) or a peer name', valid("--host", NameField))
    .option("--spec <file>", "the spec", valid("--spec", PathText))
    .option(
      "--out <dir>",
      "write the files into this directory instead of printing them",
      valid("--out", PathText),
    )
    .action(async (o: { host: string; spec?: string; out?: string }) => {
      const { spec } = readSpec(o.spec);
      // This machine's key file is its own: another host (a peer rendered on the hub) keeps its key in
      // porthole's default place on that machine, which its wg-quick file names.
      const me = await whoAmI(spec, keyFile());
      const mine = me !== undefined && (o.host === me || (o.host === "hub" && me === spec.hub.name));
      let files: Record<string, string>;
      try {
        files = renderFiles(compile(spec, o.host, mine ? { keyFile: keyFile() } : {}));
      } catch (e) {
        if (e instanceof UnknownHostError) throw new UserError(`--host: ${e.message}`);
        throw e;
      }
      if (!o.out) {
        for (const [name, text] of Object.entries(files)) process.stdout.write(`==> ${name} <==\n${text}\n`);
        return;
      }
      givenOutDir("--out", o.out);
      for (const [name, text] of Object.entries(files)) {
        writeGivenFile("--out", join(o.out, name), text);
        console.log(join(o.out, name));
      }
    });
}
