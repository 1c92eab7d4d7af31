// keygen, pubkey: drop-in replacements for `wg genkey` and `wg pubkey`.
import type { Command } from "commander";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../net/wgkey.ts";
import { UserError } from "./errors.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function registerKeyCommands(program: Command): void {
  program
    .command("keygen")
    .description("print a new private key (like `wg genkey`)")
    .action(() => {
      console.log(generatePrivateKey());
    });
  program
    .command("pubkey")
    .description("read a private key on stdin, print its public key (like `wg pubkey`)")
    .action(async () => {
      const key = (await readStdin()).trim();
      const problem = keyProblem(key);
      if (problem) throw new UserError(`stdin: the private key ${problem}`);
      console.log(publicKeyOf(key));
    });
}
