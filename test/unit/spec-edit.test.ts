import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { hostFiles } from "../../src/host/files.ts";
import { editData, editText, type SpecEdit } from "../../src/hub/spec-edit.ts";
import { SpecRejected, SpecStore } from "../../src/hub/store.ts";
import { parseFast } from "../../src/spec/parse.ts";

const HUB = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const RPI = "gJ3G1/8s3o9Li4utoFsFT4dR/fNAAruhBaIcRk9xr0Y=";

const SPEC = `# my hub
version: 1
hub:
  endpoint: vps.example.com
  publicKey: ${HUB}
peers:
  - name: rpi # the Pi in the hall
    publicKey: ${RPI}
forwards:
  # the share
  - name: web
    port: 80
    peer: rpi
    targetPort: 8080

  # games
  - name: game
    proto: udp
    port: 27015
    peer: rpi
# end of forwards
`;

const data = (text: string) => parseFast(text)?.data as Record<string, unknown>;
const DNS = { name: "dns", proto: "udp", port: 53, peer: "rpi" };

test("appending a forward adds its lines after the last one and changes no other line", () => {
  const out = editText(SPEC, data(SPEC), [{ append: "forwards", item: DNS }]);
  assert.equal(
    out,
    SPEC.replace(
      "# end of forwards",
      "  - name: dns\n    proto: udp\n    port: 53\n    peer: rpi\n# end of forwards",
    ),
  );
});

test("removing an item takes the comments right above it, and leaves its neighbours' comments", () => {
  const web = editText(SPEC, data(SPEC), [{ remove: "forwards", where: (f) => f.name === "web" }]);
  assert.equal(
    web,
    SPEC.replace("  # the share\n  - name: web\n    port: 80\n    peer: rpi\n    targetPort: 8080\n\n", ""),
  );
  const game = editText(SPEC, data(SPEC), [{ remove: "forwards", where: (f) => f.name === "game" }]);
  assert.equal(
    game,
    SPEC.replace("  # games\n  - name: game\n    proto: udp\n    port: 27015\n    peer: rpi\n", ""),
  );
});

test("layouts the line editor does not handle are left to the document", () => {
  const flow = SPEC.replace(/forwards:[\s\S]*$/, "forwards: []\n");
  assert.equal(editText(flow, data(flow), [{ append: "forwards", item: DNS }]), undefined);
  const crlf = SPEC.replaceAll("\n", "\r\n");
  assert.equal(editText(crlf, data(SPEC), [{ append: "forwards", item: DNS }]), undefined);
  // Removing every item: the document writes `forwards: []`.
  assert.equal(editText(SPEC, data(SPEC), [{ remove: "forwards", where: () => true }]), undefined);
});

test("property: whenever the line editor answers, the text reads back as the edited data", () => {
  let answered = 0;
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
  const forward = fc.record({ name, port: fc.integer({ min: 1, max: 65535 }), peer: fc.constant("rpi") });
  const layout = fc.record({
    indent: fc.constantFrom("", "  ", "    "),
    gaps: fc.constantFrom("", "\n", "\n# note\n"),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(forward, { minLength: 1, maxLength: 6, selector: (f) => f.name }),
      layout,
      fc.array(
        fc.oneof(
          forward.map((f) => ({ add: f })),
          fc.nat().map((i) => ({ drop: i })),
        ),
        {
          maxLength: 3,
        },
      ),
      (forwards, { indent, gaps }, ops) => {
        const items = forwards.map(
          (f) => `${indent}- name: ${f.name}\n${indent}  port: ${f.port}\n${indent}  peer: ${f.peer}\n`,
        );
        const text = `version: 1\nforwards:\n${items.join(gaps)}peers: []\n`;
        const edits: SpecEdit[] = ops.map((o) =>
          "add" in o
            ? { append: "forwards", item: { ...o.add } }
            : { remove: "forwards", where: (f) => f.name === forwards[o.drop % forwards.length]?.name },
        );
        const out = editText(text, data(text), edits);
        if (out === undefined) return;
        answered++;
        assert.deepEqual(parseFast(out)?.data, editData(data(text), edits));
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(answered > 150, `the line editor answered ${answered} of 300 cases`);
});

test("the hub's spec store: edits keep comments, keep the previous version, and refuse an invalid result", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "porthole-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "porthole.yaml");
  writeFileSync(file, SPEC);
  const store = new SpecStore(hostFiles, file, dir);
  const r = await store.update([{ append: "forwards", item: DNS }]);
  assert.deepEqual(
    r.spec.forwards.map((f) => f.name),
    ["web", "game", "dns"],
  );
  assert.equal(readFileSync(`${file}.prev`, "utf8"), SPEC);
  assert.match(
    readFileSync(file, "utf8"),
    /# the share\n[\s\S]*# games\n[\s\S]*- name: dns\n[\s\S]*# end of forwards/,
  );

  // A forward to a peer that does not exist: refused, nothing written.
  const before = readFileSync(file, "utf8");
  await assert.rejects(
    store.update([{ append: "forwards", item: { name: "x", port: 81, peer: "nas" } }]),
    (e: unknown) => e instanceof SpecRejected && /nas/.test(e.message),
  );
  assert.equal(readFileSync(file, "utf8"), before);

  // An empty flow list (as `hub init` writes it) goes through the document and becomes a block list,
  // which the line editor handles from then on; comments still there.
  writeFileSync(file, SPEC.replace(/forwards:[\s\S]*$/, "forwards: [] # none yet\n"));
  await store.update([{ append: "forwards", item: DNS }]);
  const flow = readFileSync(file, "utf8");
  assert.match(flow, /^# my hub\n/);
  assert.match(flow, /rpi # the Pi in the hall/);
  assert.match(
    flow,
    /\nforwards:\n {2}- name: dns\n {4}proto: udp\n {4}port: 53\n {4}peer: rpi\n {2}# none yet\n$/,
  );
  assert.deepEqual(
    (await store.load()).spec.forwards.map((f) => f.name),
    ["dns"],
  );
  assert.ok(existsSync(`${file}.prev`));
});
