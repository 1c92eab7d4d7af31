// Runs INSIDE a lab hub, for the benchmarks.
//
//   node --import tsx bench/support/hub-firewall.ts SPEC.yaml
//     Loads exactly the firewall porthole compiles for the hub from SPEC, with porthole's own reconcile
//     step and host driver (nft -f / iptables-restore + hooks), and nothing else. Used in the hub of
//     connrate.bench.ts's "veth" world, where the tunnel is a plain veth named like the WireGuard
//     interface (there is no WireGuard to configure there).
//
//   node --import tsx bench/support/hub-firewall.ts --clear-iptables
//     Removes porthole's iptables hooks, then its PORTHOLE-* chains (what `porthole down` does for them).
//
// Why --clear-iptables: switching a hub from the iptables backend to nftables with `porthole apply`
// currently fails and rolls back: the reconciler removes the PORTHOLE-* chains before the jumps to them
// in the built-in chains, and `iptables -X` refuses (EBUSY). The benchmarks switch backends between runs,
// so they clear the iptables side first (SPEC mode does it too when SPEC uses nftables).
import { readFileSync } from "node:fs";
import { compile } from "../../src/compile/compile.ts";
import { realHost } from "../../src/host/real-host.ts";
import { diffIptables, diffNft, observeFirewall } from "../../src/reconcile/firewall.ts";
import { runSteps } from "../../src/reconcile/steps.ts";
import { loadSpec } from "../../src/spec/load.ts";

async function clearIptables(): Promise<string[]> {
  const fw = realHost.firewall;
  const have = await observeFirewall(fw);
  const done: string[] = [];
  for (const hook of have.hooks) {
    await fw.removeHook(hook);
    done.push(`- hook ${hook.family} ${hook.table} ${hook.chain} -j ${hook.target}`);
  }
  for (const f of [4, 6] as const) {
    if (have.iptables[f] !== null || have.hooks.some((h) => h.family === f)) {
      await fw.removeIptables(f);
      done.push(`- iptables (IPv${f}) PORTHOLE-* chains`);
    }
  }
  return done;
}

const arg = process.argv[2];
if (!arg) {
  console.error("usage: hub-firewall.ts SPEC.yaml | --clear-iptables");
  process.exit(2);
}
if (arg === "--clear-iptables") {
  console.log((await clearIptables()).join("\n") || "no changes");
} else {
  const loaded = loadSpec(readFileSync(arg, "utf8"), arg);
  if (!loaded.ok) {
    console.error(loaded.report);
    process.exit(1);
  }
  const plan = compile(loaded.spec, "hub");
  const cleared = plan.firewall.backend === "nftables" ? await clearIptables() : [];
  const have = await observeFirewall(realHost.firewall);
  const steps = [
    ...diffNft(plan.firewall, have.nft, null, []),
    ...diffIptables(plan.firewall, have, null, [], plan.wireguard.interface, []),
  ];
  await runSteps(realHost, steps);
  console.log([...cleared, ...steps.map((s) => s.text.split("\n")[0])].join("\n") || "no changes");
}
