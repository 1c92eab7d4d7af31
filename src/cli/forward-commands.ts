// `porthole forward add|rm|ls`: forwards, from the hub (peers use `porthole expose`).
import type { Command } from "commander";
import type { AddForwardRequest } from "../protocol/requests.ts";
import { NameField } from "../spec/fields.ts";
import { ModeShape, ProtoShape } from "../spec/schema.ts";
import { valid } from "./arg.ts";
import { EXIT, UserError } from "./errors.ts";
import {
  addSharedForwardOptions,
  type SharedForwardOptions,
  sharedForwardFields,
} from "./forward-options.ts";
import { hub } from "./hub-client.ts";
import { FORWARD_ADD_ARGS, NAME_ARG } from "./hub-words.ts";
import { checkSharedForwardOptions, checkSpan } from "./peer-args.ts";
import { portRangeArg } from "./port-args.ts";
import { table } from "./table.ts";

export function registerForwardCommands(program: Command): void {
  const fwd = program.command("forward").description("forwards, from the hub (peers use expose)");
  const add = fwd
    .command("add")
    .description("forward a public port (or range) of the hub to a peer")
    .requiredOption(
      "--port <port>",
      "public port or range, e.g. 80 or 6000-6010",
      portRangeArg("--port", { protoOption: "--proto" }),
    )
    .requiredOption("--peer <name>", "the peer that receives the traffic", valid("--peer", NameField))
    .option(
      "--target-port <port>",
      "port (or range of equal length) on the peer; default: the same",
      portRangeArg("--target-port", { protoOption: "--proto" }),
    )
    .option("--proto <proto>", "tcp, udp or tcp+udp", valid("--proto", ProtoShape), "tcp" as const)
    .option(
      "--mode <mode>",
      "snat (default) or transparent (client IP preserved)",
      valid("--mode", ModeShape),
    );
  addSharedForwardOptions(add).action(
    async (
      o: SharedForwardOptions & {
        port: string;
        peer: string;
        targetPort?: string;
        proto: AddForwardRequest["proto"];
        mode?: AddForwardRequest["mode"];
      },
    ) => {
      checkSharedForwardOptions(o);
      if (o.targetPort !== undefined) checkSpan(o.port, o.targetPort, "--target-port");
      const req = {
        ...sharedForwardFields(o),
        proto: o.proto,
        port: o.port,
        peer: o.peer,
        targetPort: o.targetPort,
        mode: o.mode,
      };
      let f: Awaited<ReturnType<ReturnType<typeof hub>["addForward"]>>;
      try {
        f = await hub({ args: FORWARD_ADD_ARGS }).addForward(req);
      } catch (e) {
        // Run twice (a script, a retry): the same forward in place is nothing to do, as for expose.
        if (!(e instanceof UserError) || e.code !== EXIT.invalid) throw e;
        const { exposeAgain } = await import("./expose-again.ts");
        const again = exposeAgain(
          await hub().forwards(),
          o.peer,
          {
            ...req,
            proto: o.proto ?? "tcp",
            port: String(o.port),
            targetPort: String(o.targetPort ?? o.port),
            mode: o.mode ?? "snat",
          },
          { remove: "porthole forward rm", again: "this forward add" },
        );
        if (!again) throw e;
        if (!again.same) throw new UserError(again.text, EXIT.invalid);
        console.log(again.text);
        return;
      }
      const x = f as {
        name: string;
        proto: string;
        port: string;
        peer: string;
        targetPort: string;
        mode: string;
        allowFrom: string[];
      };
      console.log(
        `+ forward ${x.name}: ${x.proto}/${x.port} → ${x.peer}:${x.targetPort} (${x.mode}${x.allowFrom.length ? `; from ${x.allowFrom.join(", ")}` : ""})`,
      );
      // Applied: the hub probes the target through the tunnel, as status does (a warning at most).
      const [{ checkFromHub }, { realHost }] = await Promise.all([
        import("./forward-check.ts"),
        import("../host/real-host.ts"),
      ]);
      await checkFromHub(f, () => hub().peers(), realHost.probe.connect);
    },
  );
  fwd
    .command("rm")
    .argument("<NAME>", "the forward's name (see forward ls)", valid("NAME", NameField))
    .description("remove a forward")
    .action(async (name: string) => {
      await hub({ args: NAME_ARG }).removeForward(name);
      console.log(`- forward ${name}`);
    });
  fwd
    .command("ls")
    .description("list forwards")
    .option("--json", "machine-readable")
    .action(async (o: { json?: boolean }) => {
      const list = await hub().forwards();
      if (o.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      const rows = list.map((f) => [
        String(f.name),
        `${f.proto}/${f.port}`,
        `${f.peer}:${f.targetPort}`,
        String(f.mode),
        (f.allowFrom as string[]).join(",") || "anywhere",
      ]);
      console.log(table(["NAME", "PUBLIC", "TARGET", "MODE", "FROM"], rows));
      if (!rows.length) console.log("(no forwards yet)");
    });
}
