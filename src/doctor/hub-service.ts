// The hub as a service: its daemon and systemd unit, its WireGuard interface (and what carries it),
// and whether the endpoint name peers dial resolves to this machine.
import { unitName } from "../compile/systemd.ts";
import { RuntimeStore } from "../hub/runtime.ts";
import { probeForwards } from "../hub/status.ts";
import { count } from "../spec/diagnostics.ts";
import type { Check } from "./check.ts";
import { type HubContext, isPublicInterface } from "./hub-context.ts";

const START = "systemctl start porthole-hub   (or run `porthole hub run` under your own supervisor)";

export const daemon: Check<HubContext> = {
  id: "daemon",
  about: "the hub daemon runs (hubs set up with `hub init`)",
  run: async (ctx) => {
    if (ctx.managedBy === "apply")
      return {
        id: "daemon",
        status: "ok",
        found: "not used: this hub is managed with `porthole apply` (no join tokens or peer requests)",
      };
    const d = await ctx.host.services.daemon(ctx.stateDir, "hub");
    if (d) return { id: "daemon", status: "ok", found: `running (pid ${d.pid}, since ${d.startedAt})` };
    return {
      id: "daemon",
      status: "fail",
      found: "NOT running: nothing repairs drift, and join tokens and peers' requests get no answer",
      fix: [START],
    };
  },
};

export const unit: Check<HubContext> = {
  id: "unit",
  about: "porthole-hub.service is enabled (and running, for the daemon)",
  run: async (ctx) => {
    const name = unitName("hub");
    const u = await ctx.host.services.unit(name);
    if (!u)
      return {
        id: "unit",
        status: "unknown",
        found: `systemd does not run this host: ${name} cannot start porthole at boot here`,
        fix: [
          ctx.managedBy === "daemon"
            ? "make your supervisor start `porthole hub run --down-on-stop` at boot"
            : "make your init system run `porthole apply --from-state` at boot",
        ],
      };
    // The oneshot unit of an apply-managed hub runs at boot only; the daemon's must run now too.
    const wantActive = ctx.managedBy === "daemon";
    const state = `${name} is ${u.enabled ? "enabled" : "NOT enabled"} and ${u.active ? "active" : "inactive"}`;
    if (u.enabled && (u.active || !wantActive)) return { id: "unit", status: "ok", found: state };
    return {
      id: "unit",
      // A hub run by `apply` alone works now; only a reboot would take its forwards away.
      status: wantActive ? "fail" : "warn",
      found: `${state}: ${u.enabled ? "the daemon is not running" : "porthole does not come back after a reboot"}`,
      fix: [`systemctl enable ${wantActive ? "--now " : ""}${name}`],
    };
  },
};

/**
 * The interface's keys as "2 peers", then "1 pending join token" (its one-time enrollment key) and "1
 * key not in the spec" when there are such: counting every key as a peer said "4 peers" for 2.
 */
async function keysSaid(ctx: HubContext, keys: { publicKey: string }[]): Promise<string> {
  const inSpec = new Set(ctx.spec.peers.map((p) => p.publicKey));
  const rest = keys.filter((k) => !inSpec.has(k.publicKey));
  const store = new RuntimeStore(ctx.host.files, ctx.stateDir);
  let unread: string | undefined;
  const tokens = rest.length
    ? (
        await store.load().catch((e: Error) => {
          unread = `${store.path} cannot be read: ${e.message}`;
          return { tokens: [] };
        })
      ).tokens
    : [];
  const enrolling = new Set(tokens.map((t) => t.publicKey));
  const pending = rest.filter((k) => enrolling.has(k.publicKey)).length;
  const others = count(rest.length - pending, "key not in the spec", "keys not in the spec");
  return [
    count(keys.length - rest.length, "peer"),
    ...(pending ? [count(pending, "pending join token", "pending join tokens")] : []),
    // Unread, the pending tokens are unknown: not every other key is a stranger.
    ...(rest.length > pending
      ? [unread ? `${others} or pending join tokens (unknown: ${unread})` : others]
      : []),
  ].join(", ");
}

export const wireguard: Check<HubContext> = {
  id: "wireguard",
  about: "the tunnel interface is up on the spec's port; kernel WireGuard or userspace, and which",
  run: async (ctx) => {
    const { hub } = ctx.spec;
    const [wg, impl] = await Promise.all([
      ctx.host.wg.observe(hub.interface),
      ctx.host.wg.implementation(hub.interface),
    ]);
    if (!wg.exists || !impl)
      return {
        id: "wireguard",
        status: "fail",
        found: `${hub.interface} does not exist: no peer can connect`,
        fix: ["porthole apply"],
      };
    const carrier =
      impl.kind === "kernel"
        ? "kernel WireGuard"
        : `userspace WireGuard: ${impl.program ? `${impl.program} (pid ${impl.pid})` : `the program holding /run/wireguard/${hub.interface}.sock is not known`}`;
    const problems = [
      ...(wg.up ? [] : [`${hub.interface} is down`]),
      ...(wg.listenPort === hub.listenPort
        ? []
        : [`it listens on ${wg.listenPort ?? "no port"}, not hub.listenPort ${hub.listenPort}`]),
    ];
    const found = `${hub.interface} ${wg.up ? "up" : "DOWN"}, udp/${wg.listenPort ?? "-"}, ${await keysSaid(ctx, wg.peers)}; ${carrier}`;
    if (problems.length)
      return {
        id: "wireguard",
        status: "fail",
        found: `${found}: ${problems.join("; ")}`,
        fix: ["porthole apply"],
      };
    return { id: "wireguard", status: "ok", found };
  },
};

export const endpoint: Check<HubContext> = {
  id: "endpoint",
  about: "hub.endpoint resolves to an address of this hub",
  run: async (ctx) => {
    const name = ctx.spec.hub.endpoint.host;
    const [resolved, addrs] = await Promise.all([ctx.host.net.resolve(name), ctx.host.net.addresses()]);
    const own = addrs.filter((a) => a.scope === "global" && isPublicInterface(ctx, a.iface));
    const literal = resolved.length === 1 && resolved[0] === name;
    if (!resolved.length)
      return {
        id: "endpoint",
        status: "fail",
        found: `hub.endpoint ${name} does not resolve here: peers cannot find the hub`,
        fix: [
          `publish an A record: ${name} -> ${own.find((a) => a.family === 4)?.address ?? "this hub's public address"}`,
        ],
      };
    const hit = own.find((a) => resolved.includes(a.address));
    const what = literal
      ? `hub.endpoint is the address ${name}`
      : `hub.endpoint ${name} resolves to ${resolved.join(", ")}`;
    if (hit) return { id: "endpoint", status: "ok", found: `${what}, on ${hit.iface}` };
    return {
      id: "endpoint",
      status: "warn",
      found: `${what}, which is on no public interface of this hub (${own.map((a) => a.address).join(", ") || "none"}): expected behind a cloud's 1:1 NAT (an elastic IP), otherwise peers dial another machine`,
      fix: [
        literal
          ? `porthole hub init --endpoint ADDRESS with this hub's public address, or edit hub.endpoint in the spec`
          : `point ${name} at this hub's public address${own[0] ? ` (${own[0].address})` : ""}`,
      ],
    };
  },
};

/**
 * Reachability of the WireGuard port and each forward from the internet: the hub cannot see its
 * provider's firewall from inside, so the daemon asks a connected peer to probe the public address
 * over its own internet path (hub/reachability.ts); one result per port.
 */
export const outside: Check<HubContext> = {
  id: "outside",
  about: "the WireGuard port and each forward are reachable from the internet (probed by a peer)",
  run: async (ctx) => {
    const { hub } = ctx.spec;
    const byHand = `from a machine outside: nc -vz -w 3 ${hub.endpoint.host} PORT for each TCP forward, and check the provider's firewall (security group) admits udp/${hub.listenPort}`;
    if (!ctx.reachability)
      return {
        id: "outside",
        status: "unknown",
        found: `not checked: no hub daemon runs to ask a peer to probe udp/${hub.listenPort} and the forwards' public ports from the internet (a cloud firewall in front of the hub is invisible from here)`,
        fix: [byHand],
      };
    const reply = await ctx.reachability();
    if (!reply.findings.length) return [];
    // An unjudged port's own way to find out (not every port's, repeated on each line).
    const host = hub.endpoint.host;
    const portByHand = (f: { proto: string; port: number; what: string }) =>
      f.what === "wireguard"
        ? `check the provider's firewall (security group) admits udp/${f.port} from every address the peers connect from`
        : f.proto === "tcp"
          ? `from a machine outside: nc -vz -w 3 ${host} ${f.port}`
          : `from a machine outside: echo ping | nc -u -w 1 ${host} ${f.port}, and see it arrive on the peer (tcpdump -ni wg0 udp); the provider's firewall must admit udp/${f.port}`;
    const unjudged = await targetsNotAnswering(ctx, reply.findings);
    return reply.findings.map((f) => {
      const id = `outside ${f.proto}/${f.port}`;
      const target = unjudged.get(f.what);
      if (target)
        return {
          id,
          status: "unknown",
          found: `${f.proto}/${f.port} (${f.what}): not judged: its target does not answer the hub either (${target}), so no connect from the internet can complete, whatever the provider's firewall does`,
          fix: [`make the forward's target answer first (see forwards above), then porthole doctor again`],
        };
      return {
        id,
        status: f.status,
        found: f.status === "unknown" && reply.note ? `${f.found}: ${reply.note}` : f.found,
        ...(f.fix ? { fix: [f.fix] } : f.status === "unknown" ? { fix: [portByHand(f)] } : {}),
      };
    });
  },
};

/**
 * The forwards whose outside probe failed and whose target does not accept the hub's own connect
 * either, by name → "10.8.0.2:8080 timed out": the peer's connect from the internet is DNAT'd to that
 * target, so its failure says nothing of a cloud firewall. Probes only when an outside probe failed.
 */
async function targetsNotAnswering(
  ctx: HubContext,
  findings: { what: string; proto: string; status: string }[],
): Promise<Map<string, string>> {
  const failed = new Set(findings.filter((f) => f.proto === "tcp" && f.status === "fail").map((f) => f.what));
  const out = new Map<string, string>();
  if (!failed.size) return out;
  const probes = await probeForwards(ctx.host, ctx.spec, ctx.plan.targets);
  ctx.spec.forwards.forEach((f, i) => {
    const p = probes[i];
    if (!failed.has(f.name) || !p?.target || !p.result) return;
    const { outcome } = p.result;
    if (outcome === "refused" || outcome === "timeout" || outcome === "unreachable")
      out.set(
        f.name,
        `${p.target.addr}:${p.target.targetPort} ${outcome === "timeout" ? "timed out" : outcome}`,
      );
  });
  return out;
}
