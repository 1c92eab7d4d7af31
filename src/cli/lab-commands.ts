// lab up|status|down|ls: the seed's world in network namespaces on this machine.
import type { Command } from "commander";
import { DEFAULT_LAB, labDown, labHints, labStatus, labUp, labUpJoined } from "../lab/lab.ts";
import { listWorlds } from "../lab/world.ts";
import { EXIT, UserError } from "./errors.ts";

const self = () => [process.execPath, process.argv[1] as string];

function oneOf<T extends string>(flag: string, value: string, accepted: readonly T[]): T {
  if (!accepted.includes(value as T)) {
    throw new UserError(
      `${flag}: ${JSON.stringify(value)} is not accepted; use one of: ${accepted.join(", ")}`,
      EXIT.usage,
    );
  }
  return value as T;
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command("lab")
    .description(
      "run the whole system on this machine in network namespaces: client (the internet), hub, home router, peer",
    );
  lab
    .command("up")
    .description("build the lab, apply porthole on hub and peer, serve a WebDAV share from the peer")
    .option("--name <name>", "lab name (several labs can run side by side)", DEFAULT_LAB)
    .option("--backend <backend>", "hub firewall: nftables or iptables", "nftables")
    .option("--mode <mode>", "snat (the blog post's) or transparent (client IP preserved)", "snat")
    .option("--static", "no daemons: write one spec and `porthole apply` it on hub and peer (issue-3 style)")
    .action(async (o: { name: string; backend: string; mode: string; static?: boolean }) => {
      const world = await (o.static ? labUp : labUpJoined)({
        name: o.name,
        backend: oneOf("--backend", o.backend, ["nftables", "iptables"] as const),
        mode: oneOf("--mode", o.mode, ["snat", "transparent"] as const),
        porthole: self(),
        log: (l) => console.log(l),
      });
      console.log(labHints(world));
    });
  lab
    .command("status")
    .description("WireGuard status of hub and peer, and the forwards")
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .action(async (o: { name: string }) => {
      console.log(await labStatus(o.name, self()));
    });
  lab
    .command("down")
    .description("remove the lab: processes, namespaces, files (works after a crash too)")
    .option("--name <name>", "lab name", DEFAULT_LAB)
    .action(async (o: { name: string }) => {
      console.log(await labDown(o.name));
    });
  lab
    .command("ls")
    .description("list labs")
    .action(() => {
      for (const w of listWorlds()) console.log(w.name);
    });
}
