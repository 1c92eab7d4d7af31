// import wg-quick FILE: start a spec from a hand-built hub.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { importWgQuick } from "../spec/import-wgquick.ts";
import { UserError } from "./errors.ts";

export function registerImportCommand(program: Command): void {
  program
    .command("import")
    .description("turn an existing configuration into a spec (printed on stdout)")
    .command("wg-quick")
    .description("read a hub's wg-quick config (e.g. /etc/wireguard/wg0.conf) and print a porthole.yaml")
    .argument("<file>", "the wg-quick config")
    .option("--endpoint <host>", "the hub's public name or address, which the config does not hold")
    .action((file: string, o: { endpoint?: string }) => {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (e) {
        throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`);
      }
      try {
        const r = importWgQuick(text, o);
        process.stdout.write(r.yaml);
        for (const w of r.warnings) console.error(`porthole: note: ${w}`);
      } catch (e) {
        throw new UserError(`${file}: ${(e as Error).message}`);
      }
    });
}
