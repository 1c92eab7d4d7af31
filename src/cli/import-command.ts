// import wg-quick FILE: start a spec from a hand-built hub.
import { basename, dirname, resolve } from "node:path";
import type { Command } from "commander";
import { EndpointField, InterfaceField } from "../spec/fields.ts";
import { importWgQuick } from "../spec/import-wgquick.ts";
import { PathText, valid } from "./arg.ts";
import { UserError } from "./errors.ts";
import { readGivenFile } from "./given-file.ts";

export function registerImportCommand(program: Command): void {
  program
    .command("import")
    .description("turn an existing configuration into a spec (printed on stdout)")
    .command("wg-quick")
    .description("read a hub's wg-quick config (e.g. /etc/wireguard/wg0.conf) and print a porthole.yaml")
    .argument("<FILE>", "the wg-quick config", valid("FILE", PathText))
    .option(
      "--endpoint <host>",
      "the hub's public name or address, which the config does not hold",
      valid("--endpoint", EndpointField),
    )
    .option(
      "--interface <name>",
      "the tunnel's name (default: NAME for /etc/wireguard/NAME.conf, as wg-quick names it; else wg0)",
      valid("--interface", InterfaceField),
    )
    .action((file: string, o: { endpoint?: string; interface?: string }) => {
      const text = readGivenFile("FILE", file, "give a wg-quick config, e.g. /etc/wireguard/wg0.conf");
      // wg-quick names the tunnel after the file; a copy elsewhere (a backup) keeps the usual wg0.
      const stem = basename(file).replace(/\.conf$/, "");
      const interfaceName = o.interface ?? (resolve(dirname(file)) === "/etc/wireguard" ? stem : undefined);
      try {
        const r = importWgQuick(text, { endpoint: o.endpoint, interfaceName });
        if (!interfaceName && stem !== "wg0" && /^[\w=+.-]{1,15}$/.test(stem))
          r.notes.push(
            `the tunnel is wg0; if ${file} is a copy of /etc/wireguard/${stem}.conf, pass --interface ${stem}`,
          );
        process.stdout.write(r.yaml);
        for (const n of r.notes) console.error(`porthole: note: ${n}`);
      } catch (e) {
        throw new UserError(`${file}: ${(e as Error).message}`);
      }
    });
}
