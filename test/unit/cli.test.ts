// The built CLI (bin/porthole.js -> dist/), run as a user would: validate, render, keygen/pubkey,
// import wg-quick. Builds dist/ first when it is missing or older than the sources.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { BIN, ensureBuilt, ROOT } from "./helpers/built-cli.ts";
import { GOLDEN_DIR } from "./helpers/golden.ts";
import { needTools } from "./helpers/tools.ts";
import { yaml } from "./helpers/yaml-text.ts";

const SEED = join(ROOT, "examples/seed.yaml");
const FIXTURE = join(ROOT, "test/fixtures/seed-hub-wg0.conf");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// A clean environment: no PORTHOLE_* overrides from the caller, and no porthole.yaml in the cwd.
const work = mkdtempSync(join(tmpdir(), "porthole-cli-"));
after(() => rmSync(work, { recursive: true, force: true }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PORTHOLE_")));

function porthole(args: string[], input?: string, extraEnv: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: work,
    env: { ...env, ...extraEnv },
    input,
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = (name: string, text: string) => {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
};

before(ensureBuilt);

describe("porthole validate", () => {
  test("a valid spec: exit 0 and a one-line summary", () => {
    const r = porthole(["validate", "--spec", SEED]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${SEED}: ok (1 peer, 1 forward)\n`);
  });

  test("an invalid spec: exit 1 and every problem, with line:column, then a count", () => {
    const file = tmp(
      "bad.yaml",
      yaml`
        version: 1
        hub:
          endpoint: 203.0.113.42
          listenPort: 42069
          publicKey: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
          mtu: 100
        peers:
          - name: rpi
            publicKey: nope
        forwards:
          - name: share
            proto: udp
            port: 42069
            peer: rpi
          - name: web
            port: 80
            peer: pi
      `,
    );
    const r = porthole(["validate", "--spec", file]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      [
        `porthole: ${file}:6:3 hub.mtu: 100 is out of range; accepted: 1280-9000`,
        `${file}:9:5 peers[0].publicKey: "nope" is not a WireGuard key; expected 32 bytes in base64 (44 characters ending in '='), as \`wg pubkey\` prints`,
        `${file}:13:5 forwards[0].port: 42069 is the hub's WireGuard listen port; pick another public port`,
        `${file}:17:5 forwards[1].peer: "pi" is not a peer in this spec; known peers: rpi`,
        `4 problems in ${file}; nothing was changed`,
        "",
      ].join("\n"),
    );
  });

  test("a spec that cannot be read: exit 2 naming --spec and the file, and why in words", () => {
    const missing = join(work, "missing.yaml");
    const r = porthole(["validate", "--spec", missing]);
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      `porthole: --spec: ${JSON.stringify(missing)} does not exist; give the path of a porthole spec\n`,
    );
  });

  test("YAML syntax errors are reported with line:column", () => {
    const r = porthole(["validate", "--spec", tmp("syntax.yaml", "hub: [\n")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /syntax\.yaml:2:1 \(document\): YAML syntax: /);
  });
});

describe("porthole render", () => {
  test("--out DIR writes each host's files, identical to the golden ones", () => {
    for (const host of ["hub", "rpi"]) {
      const out = join(work, `render-${host}`);
      const r = porthole(["render", "--host", host, "--spec", SEED, "--out", out]);
      assert.equal(r.status, 0, r.stderr);
      const golden = join(GOLDEN_DIR, "seed", host);
      const files = readdirSync(golden).sort();
      assert.deepEqual(readdirSync(out).sort(), files);
      assert.deepEqual(r.stdout.trim().split("\n").sort(), files.map((f) => join(out, f)).sort());
      for (const f of files) {
        assert.equal(
          readFileSync(join(out, f), "utf8"),
          readFileSync(join(golden, f), "utf8"),
          `${host}/${f}`,
        );
      }
    }
  });

  test("the key file a PostUp names: this machine's own for itself; porthole's default for another host", () => {
    // A hub whose config directory is not /etc/porthole renders a peer's file: the peer keeps its key
    // on the peer, not where the hub keeps its own.
    const key = generatePrivateKey();
    const cfg = join(work, "hub-cfg");
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, "private.key"), `${key}\n`, { mode: 0o600 });
    const seed = readFileSync(SEED, "utf8");
    const spec = tmp("own-key.yaml", seed.replace(/(hub:[\s\S]*?publicKey: )\S+/, `$1${publicKeyOf(key)}`));
    const postUp = (host: string) => {
      const r = porthole(["render", "--host", host, "--spec", spec], undefined, { PORTHOLE_CONFIG_DIR: cfg });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split("\n").filter((l) => l.includes("private-key") || l.includes("PostUp loads"));
    };
    assert.deepEqual(postUp("rpi"), [
      '# PostUp loads the private key of "rpi" from this file on "rpi" (it never leaves that machine)',
      "PostUp = wg set %i private-key /etc/porthole/private.key",
    ]);
    assert.deepEqual(postUp("hub"), [
      '# PostUp loads the private key of "hub" from this file on "hub" (it never leaves that machine)',
      `PostUp = wg set %i private-key ${join(cfg, "private.key")}`,
    ]);
  });

  test("without --out, prints every file under a header", () => {
    const r = porthole(["render", "--host", "hub", "--spec", SEED]);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ["wg0.conf", "porthole.nft", "99-porthole.conf"])
      assert.match(r.stdout, new RegExp(`==> ${f} <==`));
    assert.match(r.stdout, /tcp \. 80 : 10\.8\.0\.2 \. 8080,/);
  });

  test("an unknown host: exit 1, naming the known hosts", () => {
    const r = porthole(["render", "--host", "nas", "--spec", SEED]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no host named "nas"; known hosts: hub, rpi/);
  });

  test("--host is required (usage error, exit 2)", () => {
    const r = porthole(["render", "--spec", SEED]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--host/);
  });
});

describe("porthole keygen | pubkey", () => {
  test("keygen's key gives the same public key through porthole pubkey and wg pubkey", (t) => {
    if (!needTools(t, ["wg"])) return;
    for (let i = 0; i < 3; i++) {
      const gen = porthole(["keygen"]);
      assert.equal(gen.status, 0, gen.stderr);
      const priv = gen.stdout.trim();
      assert.match(priv, /^[A-Za-z0-9+/]{43}=$/);
      const mine = porthole(["pubkey"], gen.stdout);
      assert.equal(mine.status, 0, mine.stderr);
      const theirs = execFileSync("wg", ["pubkey"], { input: gen.stdout, encoding: "utf8" });
      assert.equal(mine.stdout, theirs);
    }
  });

  test("wg genkey's key gives the same public key through porthole pubkey", (t) => {
    if (!needTools(t, ["wg"])) return;
    const priv = execFileSync("wg", ["genkey"], { encoding: "utf8" });
    assert.equal(
      porthole(["pubkey"], priv).stdout,
      execFileSync("wg", ["pubkey"], { input: priv, encoding: "utf8" }),
    );
  });

  test("pubkey refuses something that is not a key (exit 1)", () => {
    const r = porthole(["pubkey"], "not a key\n");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stdin: the private key is not a WireGuard key/);
  });
});

describe("porthole import wg-quick", () => {
  const FIXTURE_PRIVATE_KEY = "WBWVwCkfQ9Ajw0PyQ7gyCs96MkFYg1lVKq31ReYMJ3k=";

  test("the seed's hub config becomes a spec that validates and reproduces the seed's forward", (t) => {
    const r = porthole(["import", "wg-quick", FIXTURE, "--endpoint", "203.0.113.42"]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes(FIXTURE_PRIVATE_KEY), "the private key is never copied into the spec");

    const file = tmp("imported.yaml", r.stdout);
    const v = porthole(["validate", "--spec", file]);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout, `${file}: ok (2 peers, 1 forward)\n`);

    const loaded = loadSpec(r.stdout, file);
    assert.ok(loaded.ok);
    const { hub, peers, forwards } = loaded.spec;
    assert.equal(hub.listenPort, 42069);
    assert.deepEqual(hub.endpoint, { host: "203.0.113.42", port: 42069 });
    assert.equal(`${hub.subnet.prefix}`, "24");
    const rpi = peers.find((p) => p.name === "rpi");
    assert.ok(rpi, "the commented [Peer] is named after its comment");
    assert.equal(rpi.publicKey, "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=");
    // The blog's rule: tcp 80 -> 10.8.0.2:8080, with SNAT to the hub.
    assert.deepEqual(
      forwards.map((f) => ({
        protos: f.protos,
        port: f.port,
        peer: f.peer,
        target: f.targetPort,
        mode: f.mode,
      })),
      [
        {
          protos: ["tcp"],
          port: { from: 80, to: 80 },
          peer: "rpi",
          target: { from: 8080, to: 8080 },
          mode: "snat",
        },
      ],
    );

    // The hub's public key is the one of the config's private key.
    if (needTools(t, ["wg"])) {
      const pub = execFileSync("wg", ["pubkey"], { input: FIXTURE_PRIVATE_KEY, encoding: "utf8" }).trim();
      assert.equal(hub.publicKey, pub);
    }

    // Rendered, it gives the seed's data plane: the same DNAT, SNAT and forward entries.
    const out = join(work, "imported-hub");
    assert.equal(porthole(["render", "--host", "hub", "--spec", file, "--out", out]).status, 0);
    const nft = readFileSync(join(out, "porthole.nft"), "utf8");
    const seedNft = readFileSync(join(GOLDEN_DIR, "seed/hub/porthole.nft"), "utf8");
    for (const line of ["tcp . 80 : 10.8.0.2 . 8080,", "10.8.0.2 . tcp . 8080,", "snat ip to 10.8.0.1"]) {
      assert.ok(nft.includes(line), `imported: ${line}`);
      assert.ok(seedNft.includes(line), `seed: ${line}`);
    }
    const wg = readFileSync(join(out, "wg0.conf"), "utf8");
    assert.match(wg, /ListenPort = 42069/);
    assert.match(
      wg,
      /# rpi\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 10\.8\.0\.2\/32/,
    );
  });

  test("without --endpoint, the spec says where to fill it in, and a note is printed", () => {
    const r = porthole(["import", "wg-quick", FIXTURE]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /endpoint: CHANGE-ME\.example\.com/);
    assert.match(r.stderr, /porthole: note: hub\.endpoint: set it/);
  });

  test("a file that is not a wg-quick config: exit 1", () => {
    const r = porthole(["import", "wg-quick", tmp("not-wg.conf", "hello\n")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no \[Interface\] section/);
  });
});

describe("help and usage", () => {
  for (const cmd of [[], ["validate"], ["render"], ["keygen"], ["pubkey"], ["import", "wg-quick"]]) {
    test(`porthole ${[...cmd, "--help"].join(" ")}: exit 0 with usage`, () => {
      const r = porthole([...cmd, "--help"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: porthole/);
    });
  }
  test("a reader that closes the pipe early (`porthole render | head`) ends the run quietly, not in a stack trace", async () => {
    const child = spawn(process.execPath, [BIN, "render", "--spec", SEED, "--host", "hub"], {
      cwd: work,
      env,
    });
    child.stdout.destroy(); // closed before the first write: every write meets EPIPE
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const [code] = (await once(child, "close")) as [number | null];
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });
  test("`porthole help expose` is help asked for: exit 0 with usage on stdout, as `expose --help`", () => {
    const r = porthole(["help", "expose"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: porthole expose/);
  });
  test("a group without its command (`porthole peer`) is a usage error: exit 2, the group's usage on stderr", () => {
    const r = porthole(["peer"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^Usage: porthole peer/);
  });
  test("an unknown command is a usage error (exit 2)", () => {
    const r = porthole(["frobnicate"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });
  test("the peer agent's timings must be whole numbers in range (exit 2, naming the option)", () => {
    // On a peer (the agent refuses to run anywhere else).
    const state = join(work, "peer-state");
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, "peer.json"), '{ "name": "rpi", "api": "http://127.0.0.1:9" }\n');
    const onPeer = { PORTHOLE_STATE_DIR: state, PORTHOLE_CONFIG_DIR: state };
    const r = porthole(["peer", "run", "--stale-after", "soon"], undefined, onPeer);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--stale-after: "soon" is not accepted; expected a whole number 5-3600/);
    const i = porthole(["peer", "run", "--interval", "0"], undefined, onPeer);
    assert.equal(i.status, 2);
    assert.match(i.stderr, /--interval: "0" is out of range; accepted: 100-60000/);
  });
});
