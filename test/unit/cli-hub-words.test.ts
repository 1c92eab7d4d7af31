// A request the hub refuses is told in the words of the command line that made it: the argument the
// user typed (`expose`'s PUBLIC and --to, `forward add`'s --port and --target-port), not the API's field
// (port, targetPort). The peer's commands run as a user would (the built CLI, a scratch machine) against
// the hub's real API over the fake host (on a unix socket, reached from the scratch machine's network
// namespace at 127.0.0.1:HUB_PORT), the caller known by rpi's tunnel address as the tunnel would make
// it; the hub's commands run its API in-process. Every request here is refused; and the scratch
// machine's namespaces keep an accepted one from reaching this machine.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createAdaptorServer } from "@hono/node-server";
import { EXPOSE_ARGS, FORWARD_ADD_ARGS, inArgWords } from "../../src/cli/hub-words.ts";
import { hostFiles } from "../../src/host/files.ts";
import { hubApi } from "../../src/hub/api.ts";
import { HubService } from "../../src/hub/service.ts";
import { SpecStore } from "../../src/hub/store.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { fakeHost } from "../support/fake-host.ts";
import { ensureBuilt } from "./helpers/built-cli.ts";
import { HUB_PORT, scratchMachines } from "./helpers/scratch-machine.ts";

const dir = mkdtempSync(join(tmpdir(), "porthole-words-hub-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const hubSocket = join(dir, "api.sock");
const machine = scratchMachines("words", hubSocket);
const hubKey = generatePrivateKey();
const SPEC = `version: 1
hub:
  endpoint: 203.0.113.1
  publicKey: ${publicKeyOf(hubKey)}
peers:
  - name: rpi
    publicKey: "${publicKeyOf(generatePrivateKey())}"
    address: 10.8.0.2
  - name: nas
    publicKey: "${publicKeyOf(generatePrivateKey())}"
    address: 10.8.0.3
forwards:
  - name: cam
    port: 8443
    peer: nas
`;

// The API's own field names, which must not open a message the user reads.
const API_FIELD = /^porthole: (port|targetPort|proto|name|allowFrom|mode|shadowHubService|peer)(\[\d+\])?:/m;

before(ensureBuilt);
writeFileSync(join(dir, "porthole.yaml"), SPEC);
const ctx = { host: fakeHost({ "/k": hubKey }), keyFile: "/k", stateDir: dir, root: dir, bin: "porthole" };
const service = new HubService(ctx, new SpecStore(hostFiles, join(dir, "porthole.yaml"), dir));
await service.reconcile();
const tcp = hubApi(service, "tcp");
// rpi's requests, as they arrive through the tunnel from its address.
const server = createAdaptorServer({
  fetch: (req: Request) => tcp.fetch(req, { incoming: { socket: { remoteAddress: "10.8.0.2" } } }),
}) as Server;
await new Promise<void>((r) => server.listen(hubSocket, r));
after(() => new Promise((r) => server.close(r)));
const api = `http://127.0.0.1:${HUB_PORT}`;

describe("expose: the hub's refusal names PUBLIC, --to, --name … as typed (exit 1, nothing changed)", () => {
  const cases: [args: string[], says: RegExp][] = [
    [
      ["expose", "22", "--to", "8080"],
      /^porthole: PUBLIC: 22 is the hub's SSH port; pick another public port \(or set hub\.sshPort if SSH listens elsewhere\)$/m,
    ],
    [
      ["expose", "6000-6100", "--to", "7000-7100"],
      /^porthole: PUBLIC: 6000-6100 spans 101 ports; a peer that is not an admin may forward ranges of up to 16/,
    ],
    [
      ["expose", "80", "--to", "8080", "--shadow-hub-service"],
      /^porthole: --shadow-hub-service: only an admin may forward a port that a service on the hub uses$/m,
    ],
    [
      ["expose", "81", "--to", "8080", "--name", "cam"],
      /^porthole: --name: "?cam"? is already used by another peer/,
    ],
  ];
  for (const [args, says] of cases) {
    test(`porthole ${args.join(" ")}`, async () => {
      const m = machine("peer");
      writeFileSync(join(m.state, "peer.json"), JSON.stringify({ name: "rpi", api }));
      const before = m.files();
      const r = await m.runAsync(args);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, says);
      assert.doesNotMatch(r.stderr, API_FIELD);
      assert.deepEqual(m.files(), before);
    });
  }
});

describe("forward add on the hub: --port, --target-port … (exit 1, nothing changed)", () => {
  const cases: [args: string[], says: RegExp][] = [
    [["forward", "add", "--port", "22", "--peer", "rpi"], /^porthole: --port: 22 is the hub's SSH port/],
    [
      ["forward", "add", "--port", "80", "--peer", "pi"],
      /^porthole: --peer: "?pi"? is not a peer in this spec/,
    ],
    [["peer", "add", "hub", "--device"], /^porthole: NAME: "?hub"? is the hub's name; pick another$/m],
  ];
  for (const [args, says] of cases) {
    test(`porthole ${args.join(" ")}`, () => {
      const m = machine("hub");
      writeFileSync(join(m.config, "porthole.yaml"), SPEC);
      const before = m.files();
      const r = m.run(args);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, says);
      assert.doesNotMatch(r.stderr, API_FIELD);
      assert.deepEqual(m.files(), before);
    });
  }
});

test("each refused field is named by the argument that set it; a list's item by the list's option", () => {
  const problems = [
    { field: "port", message: "22 is the hub's SSH port" },
    { field: "allowFrom[1]", message: '"10.0.0.1/8" has host bits set' },
    { field: "peer", message: "rpi is not an admin" },
  ];
  assert.equal(
    inArgWords("(the hub's joined text)", problems, EXPOSE_ARGS),
    `PUBLIC: 22 is the hub's SSH port; --allow: "10.0.0.1/8" has host bits set; peer: rpi is not an admin`,
  );
  assert.equal(
    inArgWords("x", problems, FORWARD_ADD_ARGS),
    `--port: 22 is the hub's SSH port; --allow: "10.0.0.1/8" has host bits set; --peer: rpi is not an admin`,
  );
  assert.equal(inArgWords("no forward named web", undefined, EXPOSE_ARGS), "no forward named web");
});
