// A port or range as the spec writes it: canonicalPort for text compared or put in a name, portValue
// for the YAML value (a number for one port, text for a range).
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalPort, portValue } from "../../src/net/ports.ts";

test("canonicalPort: leading zeros and whitespace name the same ports; text that is no port comes back trimmed", () => {
  assert.equal(canonicalPort("080"), "80");
  assert.equal(canonicalPort(" 0444-0450 "), "444-450");
  assert.equal(canonicalPort(8080), "8080");
  assert.equal(canonicalPort(" http "), "http");
});

test("portValue: one port a number, a range its text", () => {
  assert.equal(portValue("80"), 80);
  assert.equal(portValue(" 8080 "), 8080);
  assert.equal(portValue("6000-6010"), "6000-6010");
});
