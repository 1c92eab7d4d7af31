// Join tokens: "ph1.<payload>.<sum>.<mac>". The payload tells a new peer how to reach the hub with a
// one-time enrollment key; <sum> lets the peer notice a damaged token, <mac> (keyed with a secret
// only the hub has) lets the hub refuse an altered one.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface TokenPayload {
  /** Token id. */
  i: string;
  /** Name the peer will have. */
  n: string;
  /** Hub endpoint host:port. */
  h: string;
  /** Hub public key. */
  k: string;
  /** The one-time enrollment private key (the hub keeps only its public key). */
  x: string;
  /** The enrollment key's tunnel address, and the subnet's prefix length (for the route to the hub). */
  a: string;
  m: number;
  /** The hub's tunnel address and API port. */
  s: string;
  p: number;
  /** Expiry, unix seconds. */
  e: number;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");
const sum = (payload: string) => b64(createHash("sha256").update(payload).digest().subarray(0, 6));
const mac = (secret: Buffer, payload: string) =>
  b64(createHmac("sha256", secret).update(payload).digest().subarray(0, 16));

export function makeToken(secret: Buffer, p: TokenPayload): string {
  const payload = b64(JSON.stringify(p));
  return `ph1.${payload}.${sum(payload)}.${mac(secret, payload)}`;
}

export class TokenError extends Error {}

/**
 * The token in what the user pasted: `porthole peer add` prints the whole command (`porthole join
 * ph1.…`), so a copy of that line, with or without `sudo`, gives the token after it. Anything else is
 * returned trimmed, for readToken to judge.
 */
export function tokenIn(pasted: string): string {
  return pasted.trim().replace(/^(?:sudo\s+)?porthole\s+join\s+/, "");
}

/** Reads a token without the hub's secret: shape and checksum only. */
export function readToken(token: string, now: number): TokenPayload {
  const parts = token.trim().split(".");
  if (parts.length !== 4 || parts[0] !== "ph1") {
    throw new TokenError(
      "this is not a porthole join token (it should start with ph1. and have 4 parts); copy the whole token `porthole peer add` printed (one line, ph1.… to its end)",
    );
  }
  const [, payload, check] = parts as [string, string, string, string];
  if (sum(payload) !== check)
    throw new TokenError(
      "the token is damaged or was altered (checksum mismatch); copy it again from `porthole peer add`",
    );
  let p: TokenPayload;
  try {
    p = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenPayload;
  } catch {
    throw new TokenError("the token is damaged (its payload is not readable)");
  }
  if (typeof p.e !== "number" || typeof p.x !== "string" || typeof p.h !== "string")
    throw new TokenError("the token is damaged (fields missing)");
  if (p.e <= now)
    throw new TokenError(
      `the token expired at ${new Date(p.e * 1000).toISOString()}; ask for a new one (porthole peer add ${p.n})`,
    );
  return p;
}

/** The hub's check: the token is the one it made. */
export function verifyToken(secret: Buffer, token: string): boolean {
  const [, payload, , given] = token.trim().split(".");
  if (!payload || !given) return false;
  const want = Buffer.from(mac(secret, payload));
  const got = Buffer.from(given);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The id in a token the hub has verified. */
export function tokenId(token: string): string {
  const payload = token.trim().split(".")[1] ?? "";
  return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenPayload).i;
}
