// WireGuard keys: 32-byte X25519 values in standard base64, exactly as `wg genkey` / `wg pubkey` print them.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";

const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

/**
 * What is wrong with a key's text, or null. `kind`: which key it is, for the tool that prints one
 * (a public key as `wg pubkey` prints it, a private key as `wg genkey` does).
 */
export function keyProblem(text: unknown, kind: "public" | "private" = "public"): string | null {
  if (typeof text !== "string") return "expected a WireGuard key (44 characters of base64)";
  if (!KEY_RE.test(text)) {
    return Buffer.from(text, "base64").length === 32 && text.length === 44
      ? "is not canonical base64"
      : `is not a WireGuard key; expected 32 bytes in base64 (44 characters ending in '='), as \`${kind === "public" ? "wg pubkey" : "wg genkey"}\` prints`;
  }
  return null;
}

/** A clamped private key, like `wg genkey`. */
export function generatePrivateKey(): string {
  const k = randomBytes(32);
  k[0] = (k[0] as number) & 248;
  k[31] = ((k[31] as number) & 127) | 64;
  return k.toString("base64");
}

/** The public key for a private key, like `wg pubkey` (which clamps the input first, as X25519 does). */
export function publicKeyOf(privateKey: string): string {
  const problem = keyProblem(privateKey.trim(), "private");
  if (problem) throw new Error(`private key ${problem}`);
  const d = Buffer.from(privateKey.trim(), "base64").toString("base64url");
  const priv = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: "" }, format: "jwk" });
  const jwk = createPublicKey(priv).export({ format: "jwk" });
  return Buffer.from(jwk.x as string, "base64url").toString("base64");
}
