// `down` and `apply` from every state porthole can leave a host in (issue 9 §1), on the fake host:
// hub and peer × snat and transparent × applied, interface already gone, killed mid-apply, after a
// down, after a down cut short. Every case must end clean after `down` and match the spec after `apply`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { apply, down } from "../../src/reconcile/reconcile.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { type FakeHost, fakeContext, fakeHost } from "../support/fake-host.ts";

const keys = { hub: generatePrivateKey(), rpi: generatePrivateKey() };

const specText = (mode: string) =>
  [
    "hub:",
    "  endpoint: 203.0.113.1",
    `  publicKey: ${publicKeyOf(keys.hub)}`,
    "peers:",
    `  - { name: rpi, publicKey: "${publicKeyOf(keys.rpi)}", address: 10.8.0.2 }`,
    "forwards:",
    `  - { name: web, port: 80, peer: rpi, targetPort: 8080, mode: ${mode} }`,
  ].join("\n");

const ctx = (h: FakeHost) => fakeContext(h);

async function applyMode(h: FakeHost, host: "hub" | "rpi", mode: string) {
  const text = specText(mode);
  const r = loadSpec(text);
  assert.ok(r.ok);
  return apply(ctx(h), { spec: r.spec, specText: text, hostName: host });
}

/** Nothing of porthole's is left: only the key, a file porthole does not own, and the previous record. */
function assertClean(h: FakeHost, what: string) {
  assert.equal(h.ifaces.size, 0, `${what}: interface left`);
  assert.equal(h.fw.nft, null, `${what}: nft table left`);
  assert.equal(h.routes, false, `${what}: policy routing left`);
  assert.equal(h.sysctls.get("net.ipv4.ip_forward"), "0", `${what}: ip_forward not restored`);
  const files = [...h.fileMap.keys()].filter((f) => f !== "/state/applied.json.prev").sort();
  assert.deepEqual(files, ["/k", "/unrelated"], `${what}: files left`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The states, each made from a fresh host. */
const STATES: Record<string, (h: FakeHost, host: "hub" | "rpi", mode: string) => Promise<void>> = {
  "never applied": async () => {},
  applied: async (h, host, mode) => {
    await applyMode(h, host, mode);
  },
  "interface already gone": async (h, host, mode) => {
    await applyMode(h, host, mode);
    await h.wg.destroy("wg0"); // `ip link del wg0`, a reboot without the unit, wireguard-go killed
  },
  "killed mid-apply (no applied record yet)": async (h, host, mode) => {
    // The process dies while writing the unit file, after the interface, sysctl, ruleset and routing.
    // Another process: its apply lock dies with it (a lock whose owner is gone is taken over).
    const dying: FakeHost = {
      ...h,
      files: {
        ...h.files,
        write: (p, t, m) => (p.startsWith("/root/") ? new Promise(() => {}) : h.files.write(p, t, m)),
        lock: (_p, fn) => fn(),
      },
    };
    void applyMode(dying, host, mode);
    await sleep(50);
    assert.ok(h.ifaces.has("wg0") && !h.fileMap.has("/state/applied.json"));
  },
  "after a down": async (h, host, mode) => {
    await applyMode(h, host, mode);
    await down(ctx(h));
  },
  "a down cut short": async (h, host, mode) => {
    await applyMode(h, host, mode);
    h.failOn = "wg destroy";
    await assert.rejects(down(ctx(h)), /down could not remove everything.*\n.*interface wg0/);
    h.failOn = undefined;
  },
};

for (const host of ["hub", "rpi"] as const) {
  for (const mode of ["snat", "transparent"]) {
    describe(`${host === "hub" ? "hub" : "peer"}, ${mode}`, () => {
      for (const [state, make] of Object.entries(STATES)) {
        test(`${state}: down succeeds and leaves nothing; apply succeeds and a second apply finds nothing to do`, async () => {
          const h = fakeHost({ "/k": host === "hub" ? keys.hub : keys.rpi, "/unrelated": "x" });
          await make(h, host, mode);
          await down(ctx(h));
          assertClean(h, `down from "${state}"`);
          assert.deepEqual(await down(ctx(h)), [], "a second down finds nothing");

          const h2 = fakeHost({ "/k": host === "hub" ? keys.hub : keys.rpi, "/unrelated": "x" });
          await make(h2, host, mode);
          await applyMode(h2, host, mode);
          assert.equal((await applyMode(h2, host, mode)).changed, false);
          assert.equal(h2.routes, host === "rpi" && mode === "transparent");
          await down(ctx(h2));
          assertClean(h2, `apply then down from "${state}"`);
        });
      }
    });
  }
}
