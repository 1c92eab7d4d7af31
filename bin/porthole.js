#!/usr/bin/env node
// CommonJS (bin/package.json): no ESM loader at start (scripts/bundle.mjs).
require("../dist/porthole.cjs");
