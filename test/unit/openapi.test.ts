// The API's OpenAPI document: every route it serves is described, it is served, and docs/openapi.json
// is the same document (UPDATE_GOLDEN=1 writes it).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { hubApi } from "../../src/hub/api.ts";
import type { HubService } from "../../src/hub/service.ts";
import { openApiDocument, ROUTES } from "../../src/protocol/openapi.ts";

const FILE = new URL("../../docs/openapi.json", import.meta.url);
const root = { identify: async () => ({ kind: "root" }) } as unknown as HubService;

test("the OpenAPI document describes exactly the routes the API serves", () => {
  const served = hubApi(root, "unix")
    .routes.filter((r) => r.method !== "ALL")
    .map((r) => `${r.method} ${r.path}`)
    .sort();
  const described = ROUTES.map(
    (r) => `${r.method.toUpperCase()} ${r.path.replace(/\{(\w+)\}/g, ":$1")}`,
  ).sort();
  assert.deepEqual(described, served);
});

test("/v1/openapi.json is served, and docs/openapi.json is the same document", async () => {
  const doc = openApiDocument();
  const res = await hubApi(root, "unix").request("/v1/openapi.json");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), doc);
  if (process.env.UPDATE_GOLDEN) writeFileSync(FILE, `${JSON.stringify(doc, null, 2)}\n`);
  assert.deepEqual(
    JSON.parse(readFileSync(FILE, "utf8")),
    doc,
    "docs/openapi.json is stale: run with UPDATE_GOLDEN=1",
  );
  // Bodies refuse unknown fields, as the API does.
  const post = (doc.paths as Record<string, Record<string, { requestBody: unknown }>>)["/v1/forwards"]?.post;
  assert.match(JSON.stringify(post?.requestBody), /"additionalProperties":false/);
});
