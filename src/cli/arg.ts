// Command-line arguments checked by the schema of the field they become (spec/fields.ts, the enums of
// spec/schema.ts, protocol/requests.ts), as commander argParsers: a bad value stops the command while
// its line is parsed, before anything is read or changed, with a usage error in the spec's words:
// `--port: "99999" is out of range; expected a port 1-65535 or a range like 6000-6010`. Arguments that
// are no spec field have a schema here, in the same style; "PORT[:PROTO]" ones are in port-args.ts.
import * as z from "zod";
import { checkValue } from "../spec/shape.ts";
import { EXIT, UserError } from "./errors.ts";

/**
 * An argParser for the argument or option `field` ("--port", "PUBLIC"): the text checked by `schema`,
 * its output returned; else a UserError (exit 2) "FIELD: value, why, what is accepted".
 */
export function valid<T>(field: string, schema: z.ZodType<T>): (text: string) => T {
  return (text) => {
    const r = checkValue(schema, text);
    if (!r.ok) throw new UserError(`${field}: ${r.message}`, EXIT.usage);
    return r.value;
  };
}

/** A whole number from min to max, given as digits (an interval, a count, seconds): the number. */
export const wholeNumber = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (Number.isNaN(n))
      ctx.issues.push({
        code: "custom",
        message: `is not accepted; expected a whole number ${min}-${max}`,
        input: text,
      });
    else if (n < min || n > max)
      ctx.issues.push({ code: "custom", message: `is out of range; accepted: ${min}-${max}`, input: text });
    return n;
  });

/** A file or directory path: not empty, no NUL byte (no system call takes one). */
export const PathText = z.string().superRefine((text, ctx) => {
  if (!text || text.includes("\0"))
    ctx.addIssue({ code: "custom", message: "is not accepted; expected a file path" });
});

/** An http:// or https:// URL (where the hub POSTs its events). */
export const WebhookUrl = z.string().superRefine((text, ctx) => {
  if (!/^https?:\/\/\S+$/.test(text) || !URL.canParse(text))
    ctx.addIssue({ code: "custom", message: "is not accepted; give an http:// or https:// URL" });
});

/** How long a join token is valid: "30m", "1h", "2d" (s, m, h, d), as seconds. */
export const DurationText = z.string().transform((text, ctx) => {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!m) {
    ctx.issues.push({
      code: "custom",
      message: "is not accepted; use a duration like 30m, 1h or 2d (s, m, h, d)",
      input: text,
    });
    return z.NEVER;
  }
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s"];
});
