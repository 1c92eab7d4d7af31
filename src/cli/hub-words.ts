// The hub names the request fields it refuses ("port: 22 is the hub's SSH port"); a command says them
// as the user typed them: `porthole expose 22 --to 8080` answers "PUBLIC: 22 is …", `forward add`
// "--port: 22 is …". Each command lists which of its arguments set which request field.
import type { FieldProblem } from "../protocol/responses.ts";

/** Request field ("port", "allowFrom") -> the argument or option that set it ("PUBLIC", "--allow"). */
export type ArgNames = Readonly<Record<string, string>>;

/** `porthole expose PUBLIC --to PORT …` */
export const EXPOSE_ARGS: ArgNames = {
  port: "PUBLIC",
  proto: "PUBLIC",
  targetPort: "--to",
  mode: "--transparent",
  name: "--name",
  allowFrom: "--allow",
  shadowHubService: "--shadow-hub-service",
};

/** `porthole forward add --port … --peer …` */
export const FORWARD_ADD_ARGS: ArgNames = {
  port: "--port",
  proto: "--proto",
  peer: "--peer",
  targetPort: "--target-port",
  mode: "--mode",
  name: "--name",
  allowFrom: "--allow",
  shadowHubService: "--shadow-hub-service",
};

/** `porthole peer add NAME [--admin] [--expires …]` */
export const PEER_ADD_ARGS: ArgNames = { name: "NAME", admin: "--admin", expiresSeconds: "--expires" };

/** `porthole peer rm NAME`, `forward rm NAME` */
export const NAME_ARG: ArgNames = { name: "NAME" };

/**
 * The hub's refusal in the command's words: each problem whose field (or, for "allowFrom[1]", whose
 * list) one of `args` set is named by that argument; the others keep the hub's name. `message` as it
 * came when the hub gave no problems apart.
 */
export function inArgWords(message: string, problems: FieldProblem[] | undefined, args: ArgNames): string {
  if (!problems?.length) return message;
  const named = (field: string) => args[field] ?? args[field.replace(/\[\d+\]$/, "")] ?? field;
  return problems.map((p) => `${named(p.field)}: ${p.message}`).join("; ");
}
