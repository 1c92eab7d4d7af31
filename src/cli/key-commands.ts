// keygen, pubkey: drop-in replacements for `wg genkey` and `wg pubkey`.
import type { Command } from "commander";
import { pathExists, writeAtomic } from "../host/files.ts";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../net/wgkey.ts";
import { PathText, valid } from "./arg.ts";
import { EXIT, UserError } from "./errors.ts";
import { givenFileDir, writeRefusal } from "./given-file.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function registerKeyCommands(program: Command): void {
  program
    .command("keygen")
    .description(
      "print a new private key (like `wg genkey`); with --write, keep it in a 0600 file and print its public key",
    )
    .option(
      "--write <file>",
      "write the private key to FILE (mode 0600, never overwritten) and print the public key",
      valid("--write", PathText),
    )
    .action(async (o: { write?: string }) => {
      const key = generatePrivateKey();
      if (!o.write) {
        console.log(key);
        return;
      }
      if (pathExists(o.write))
        throw new UserError(
          `--write: ${JSON.stringify(o.write)} exists already; porthole never overwrites a key: give a new path`,
          EXIT.usage,
        );
      givenFileDir("--write", o.write, "give a path in a directory that exists");
      try {
        await writeAtomic(o.write, `${key}\n`, 0o600);
      } catch (e) {
        throw writeRefusal("--write", o.write, e, "give a path this user may write to");
      }
      console.log(publicKeyOf(key));
    });
  program
    .command("pubkey")
    .description("read a private key on stdin, print its public key (like `wg pubkey`)")
    .action(async () => {
      const key = (await readStdin()).trim();
      const problem = keyProblem(key, "private");
      if (problem) throw new UserError(`stdin: the private key ${problem}`);
      console.log(publicKeyOf(key));
    });
}
