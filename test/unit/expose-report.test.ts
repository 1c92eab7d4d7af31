// What `porthole expose` prints: "reaches" only when the peer checked its target answers; otherwise
// "is forwarded to", and each problem doctor's target check found as a warning with its fix.
import assert from "node:assert/strict";
import { test } from "node:test";
import { exposeReport } from "../../src/cli/expose-report.ts";
import { judgeTarget } from "../../src/doctor/peer-targets.ts";

const f = {
  name: "rpi-tcp-81",
  proto: "tcp",
  port: "81",
  peer: "rpi",
  targetPort: "9090",
  mode: "snat" as const,
  allowFrom: [],
};
const listener = (address: string) => ({
  proto: "tcp" as const,
  address,
  port: 9090,
  processes: ["python3"],
});
const report = (o: ReturnType<typeof judgeTarget>[]) =>
  exposeReport(
    f,
    "203.0.113.1",
    "rpi",
    o.map((outcome) => ({ name: "rpi-tcp-81 tcp", outcome })),
  );

test("expose: a target that answers on the tunnel address earns 'reaches', with what was checked", () => {
  const r = report([
    judgeTarget("tcp", 9090, "10.8.0.2", [listener("0.0.0.0")], { outcome: "accepted", error: null }),
  ]);
  assert.deepEqual(r, {
    out: [
      'tcp/81 on 203.0.113.1 now reaches rpi:9090 (snat; forward "rpi-tcp-81")',
      "  checked on rpi: tcp/9090 (python3) answers on 10.8.0.2 (listening on 0.0.0.0)",
      "  open to every source address (no --allow): the hub drops no client by its address",
    ],
    warnings: [],
  });
});

test("expose --allow: the report says who may reach the port, as the hub stored it", () => {
  const answers = judgeTarget("tcp", 9090, "10.8.0.2", [listener("0.0.0.0")], {
    outcome: "accepted",
    error: null,
  });
  const r = exposeReport({ ...f, allowFrom: ["198.51.100.0/24", "203.0.113.7/32"] }, "203.0.113.1", "rpi", [
    { name: "rpi-tcp-81 tcp", outcome: answers },
  ]);
  assert.equal(
    r.out.at(-1),
    "  open only to 198.51.100.0/24, 203.0.113.7/32 (--allow): the hub drops other sources' packets",
  );
});

test("expose --allow 0.0.0.0/0: open to every IPv4 source, not 'open only to 0.0.0.0/0 … drops other sources'", () => {
  const r = exposeReport({ ...f, allowFrom: ["0.0.0.0/0"] }, "203.0.113.1", "rpi", []);
  // The other family is held to its prefixes: none, all of it dropped (the hub's allow6 is empty).
  assert.equal(
    r.out.at(-1),
    "  open to every IPv4 source address (--allow 0.0.0.0/0): the hub drops IPv6 sources' packets",
  );
  const both = exposeReport({ ...f, allowFrom: ["0.0.0.0/0", "2001:db8::/32"] }, "203.0.113.1", "rpi", []);
  assert.equal(
    both.out.at(-1),
    "  open to every IPv4 source address (--allow 0.0.0.0/0), and to 2001:db8::/32: the hub drops other IPv6 sources' packets",
  );
  // A prefix inside the open family adds nothing to say.
  const inside = exposeReport({ ...f, allowFrom: ["0.0.0.0/0", "192.0.2.0/24"] }, "203.0.113.1", "rpi", []);
  assert.equal(
    inside.out.at(-1),
    "  open to every IPv4 source address (--allow 0.0.0.0/0): the hub drops IPv6 sources' packets",
  );
  const all = exposeReport({ ...f, allowFrom: ["0.0.0.0/0", "::/0"] }, "203.0.113.1", "rpi", []);
  assert.equal(all.out.at(-1), "  open to every source address (--allow 0.0.0.0/0, ::/0)");
});

test("expose: bound to 127.0.0.1, nothing listening, or not checked: 'is forwarded to', never 'reaches', and a warning with the fix", () => {
  const loop = report([
    judgeTarget("tcp", 9090, "10.8.0.2", [listener("127.0.0.1")], {
      outcome: "refused",
      error: "ECONNREFUSED",
    }),
  ]);
  assert.deepEqual(loop.out, [
    'tcp/81 on 203.0.113.1 is forwarded to rpi:9090 (snat; forward "rpi-tcp-81")',
    "  open to every source address (no --allow): the hub drops no client by its address",
  ]);
  assert.equal(loop.warnings.length, 1);
  assert.match(
    loop.warnings[0] ?? "",
    /^warning on rpi: tcp\/9090 \(python3\) listens on 127\.0\.0\.1 only: loopback is unreachable through the tunnel \(10\.8\.0\.2\)\n +fix: make the service listen on 0\.0\.0\.0:9090 or 10\.8\.0\.2:9090/,
  );
  const none = report([
    judgeTarget("tcp", 9090, "10.8.0.2", [], { outcome: "refused", error: "ECONNREFUSED" }),
  ]);
  assert.doesNotMatch(none.out.join("\n"), /reaches/);
  assert.match(none.warnings[0] ?? "", /^warning on rpi: nothing listens on tcp\/9090 /);
  const unchecked = report([]);
  assert.doesNotMatch(unchecked.out.join("\n"), /reaches/);
  assert.match(unchecked.warnings[0] ?? "", /^not checked whether anything answers on rpi:9090/);
});
