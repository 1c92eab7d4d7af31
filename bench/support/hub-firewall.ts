// Runs INSIDE a lab hub, for the benchmarks.
//
//   node --import tsx bench/support/hub-firewall.ts SPEC.yaml
//     Loads exactly the firewall porthole compiles for the hub from SPEC, with porthole's own reconcile
//     steps and host driver (nft -f / iptables-restore + hooks; the other backend's rules removed), and
//     nothing else. Used in the hub of connrate.bench.ts's "veth" world, where the tunnel is a plain veth
//     named like the WireGuard interface (there is no WireGuard to configure there).
import { readFileSync } from "node:fs";
import { compile } from "../../src/compile/compile.ts";
import { realHost } from "../../src/host/real-host.ts";
import { diffIptables, diffNft, observeFirewall } from "../../src/reconcile/firewall.ts";
import { runSteps } from "../../src/reconcile/steps.ts";
import { loadSpec } from "../../src/spec/load.ts";

const file = process.argv[2];
if (!file) {
  console.error("usage: hub-firewall.ts SPEC.yaml");
  process.exit(2);
}
const loaded = loadSpec(readFileSync(file, "utf8"), file);
if (!loaded.ok) {
  console.error(loaded.report);
  process.exit(1);
}
const plan = compile(loaded.spec, "hub");
const have = await observeFirewall(realHost.firewall);
const steps = [...diffNft(plan.firewall, have.nft, null, []), ...diffIptables(plan.firewall, have, null, [])];
await runSteps(realHost, steps);
console.log(steps.map((s) => s.text.split("\n")[0]).join("\n") || "no changes");
