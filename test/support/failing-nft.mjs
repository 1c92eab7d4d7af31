#!/usr/bin/env node
// Stands in for `nft` in one e2e test: loading a ruleset (-f) fails as a broken kernel or tool
// would; everything else goes to the real nft.
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
if (args.includes("-f")) {
  console.error("Error: Could not process rule: injected failure");
  process.exit(1);
}
process.exit(spawnSync("/usr/sbin/nft", args, { stdio: "inherit" }).status ?? 1);
