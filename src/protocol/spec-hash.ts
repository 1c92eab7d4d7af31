// The spec's version as hub and peer compare it: /v1/whoami reports it, the peer agent hashes its copy.
import { createHash } from "node:crypto";

/** 16 hex digits of the SHA-256 of the spec text (the text as the caller receives it). */
export const specHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);
