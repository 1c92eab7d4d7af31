// `porthole peer add|rm|ls` on the hub: join tokens, devices (a wg-quick config and QR code), removal.
import { type Command, Option } from "commander";
import { CreateTokenRequest } from "../protocol/requests.ts";
import { NameField } from "../spec/fields.ts";
import { DurationText, valid } from "./arg.ts";
import { hub, hubStore } from "./hub-client.ts";
import { specProblem, warnSpec } from "./hub-status.ts";
import { NAME_ARG, PEER_ADD_ARGS } from "./hub-words.ts";
import { table } from "./table.ts";

/** --expires: a duration (30m, 1h, 2d) that is also the seconds a join token may live (the API's field). */
const Expires = DurationText.pipe(CreateTokenRequest.shape.expiresSeconds.unwrap());

export function registerHubPeerCommands(peer: Command): void {
  peer
    .command("add")
    .description(
      "add a peer: prints a one-time join token (or, with --device, a wg-quick config and QR code)",
    )
    .argument("<NAME>", "the new peer's name", valid("NAME", NameField))
    .option("--admin", "the peer may manage every peer and forward")
    .addOption(
      new Option("--expires <duration>", "how long the token is valid: 1m to 7d (s, m, h or d)")
        .argParser(valid("--expires", Expires))
        .default(3600, "1h"),
    )
    .option("--device", "for a phone or laptop that cannot run porthole: the hub makes its key")
    .action(async (name: string, o: { admin?: boolean; expires: number; device?: boolean }) => {
      if (!o.device) {
        const r = await hub({ needsDaemon: true, args: PEER_ADD_ARGS }).createToken({
          name,
          admin: !!o.admin,
          expiresSeconds: o.expires,
        });
        console.log(
          `join token for "${name}" (works once, until ${r.expires}):\n\n  porthole join ${r.token}\n`,
        );
        return;
      }
      const r = await hub({ args: PEER_ADD_ARGS }).addPeer({ name, admin: !!o.admin, device: true });
      const { spec } = await (await hubStore()).load();
      const [{ compile }, { renderWgQuick }, { default: qrcode }] = await Promise.all([
        import("../compile/compile.ts"),
        import("../compile/wireguard.ts"),
        import("qrcode-terminal"),
      ]);
      const plan = compile(spec, name);
      const config = renderWgQuick({ ...plan.wireguard, privateKey: r.privateKey }, name);
      console.log(
        `device "${name}" added. The hub made its private key: it is shown once here and not stored.\n`,
      );
      console.log(config);
      qrcode.generate(config, { small: true }, (q: string) => console.log(q));
    });
  peer
    .command("rm")
    .description("remove a peer and its forwards, or revoke a pending join token")
    .argument("<NAME>", "the peer's name (see peer ls)", valid("NAME", NameField))
    .action(async (name: string) => {
      const r = await hub({ args: NAME_ARG }).removePeer(name);
      if (r.revokedToken) {
        console.log(`revoked the pending join token for "${name}" (it can no longer be used)`);
        return;
      }
      console.log(
        `removed peer ${name}${r.removedForwards.length ? ` and its forwards ${r.removedForwards.join(", ")}` : ""}`,
      );
    });
  peer
    .command("ls")
    .description("list peers")
    .option("--json", "machine-readable: { peers, tokens }")
    .action(async (o: { json?: boolean }) => {
      const peers = await hub().peers();
      warnSpec(await specProblem());
      const tokens = await hub().tokens();
      if (o.json) {
        console.log(JSON.stringify({ peers, tokens }, null, 2));
        return;
      }
      const rows = peers.map((p) => [
        p.name,
        p.address,
        p.online === null ? "unknown (the hub's interface is down)" : p.online ? "online" : "offline",
        `${p.kind}${p.admin ? ", admin" : ""}`,
      ]);
      for (const t of tokens)
        rows.push([
          t.name,
          "-",
          t.expired ? `token expired ${t.expires}` : `join token pending, expires ${t.expires}`,
          `agent${t.admin ? ", admin" : ""}`,
        ]);
      console.log(table(["NAME", "ADDRESS", "STATE", "KIND"], rows));
      if (!rows.length) console.log("(no peers yet: porthole peer add NAME)");
    });
}
