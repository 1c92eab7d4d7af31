// `expose` run again for a port this peer already forwards (cli/expose-again.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { exposeAgain } from "../../src/cli/expose-again.ts";

const web = {
  name: "rpi-tcp-80",
  proto: "tcp",
  port: "80",
  peer: "rpi",
  targetPort: "8080",
  mode: "snat" as const,
  allowFrom: [],
};
const want = { proto: "tcp", port: "80", targetPort: "8080", mode: "snat" };

test("expose again: the same forward is nothing to do; another target says to unexpose it first", () => {
  assert.deepEqual(exposeAgain([web], "rpi", want), {
    same: true,
    text: 'tcp/80 is already forwarded to rpi:8080 (snat; forward "rpi-tcp-80"): nothing changed (`porthole doctor` checks that it answers)',
  });
  const other = exposeAgain([web], "rpi", { ...want, targetPort: "9090" });
  assert.equal(other?.same, false);
  assert.equal(
    other?.text,
    'tcp/80 is already forwarded to rpi:8080 (snat; forward "rpi-tcp-80"); one forward per public port: to change it, `porthole unexpose rpi-tcp-80`, then run this expose again',
  );
  assert.equal(exposeAgain([web], "rpi", { ...want, allowFrom: ["192.0.2.0/24"] })?.same, false);
  assert.equal(exposeAgain([web], "rpi", { ...want, name: "share" })?.same, false);
  assert.equal(exposeAgain([web], "rpi", { ...want, proto: "tcp+udp" })?.same, false, "shares tcp");
  assert.equal(exposeAgain([web], "rpi", { ...want, proto: "udp" }), null, "udp/80 is free");
  assert.equal(exposeAgain([web], "rpi", { ...want, port: "81" }), null);
  assert.equal(exposeAgain([{ ...web, peer: "nas" }], "rpi", want), null, "another peer's");
});

test("forward add again on the hub: the same words, with the hub's commands to change it", () => {
  const other = exposeAgain(
    [web],
    "rpi",
    { ...want, targetPort: "9090" },
    { remove: "porthole forward rm", again: "this forward add" },
  );
  assert.match(
    other?.text ?? "",
    /to change it, `porthole forward rm rpi-tcp-80`, then run this forward add again$/,
  );
});
