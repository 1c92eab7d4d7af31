import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { generatePrivateKey, keyProblem, publicKeyOf } from "../../src/net/wgkey.ts";

const wg = (args: string[], input?: string) => execFileSync("wg", args, { input, encoding: "utf8" }).trim();

test("a key made by porthole gives the same public key through `wg pubkey`", () => {
  for (let i = 0; i < 5; i++) {
    const priv = generatePrivateKey();
    assert.equal(keyProblem(priv), null);
    assert.equal(wg(["pubkey"], priv), publicKeyOf(priv));
  }
});

test("a key made by `wg genkey` gives the same public key through porthole", () => {
  for (let i = 0; i < 5; i++) {
    const priv = wg(["genkey"]);
    assert.equal(publicKeyOf(priv), wg(["pubkey"], priv));
  }
});

test("keys that are not 32 bytes of base64 are refused with a reason", () => {
  assert.match(keyProblem("nope") ?? "", /32 bytes in base64/);
  assert.match(keyProblem(`${"A".repeat(43)}`) ?? "", /32 bytes/);
  assert.equal(keyProblem(`${"A".repeat(43)}=`), null);
});

test("a bad key names the tool that prints that kind of key: wg pubkey for a public one, wg genkey for a private one", () => {
  assert.match(keyProblem("not-a-key") ?? "", /as `wg pubkey` prints$/);
  assert.match(keyProblem("not-a-key", "private") ?? "", /as `wg genkey` prints$/);
  assert.throws(() => publicKeyOf("garbage"), /private key is not a WireGuard key; .*as `wg genkey` prints$/);
});
