// The hub's kernel settings: forwarding (IPv4, IPv6), router advertisements on a forwarding host,
// reverse-path filtering on the tunnel, and how full conntrack's table is.
import { SYSCTL_FILE } from "../compile/render.ts";
import type { Check, CheckResult, Repair } from "./check.ts";
import { type HubContext, isPublicInterface } from "./hub-context.ts";

const persist = (key: string, value: string) =>
  `porthole apply   (sets ${key} = ${value} and keeps it in /etc/sysctl.d/${SYSCTL_FILE} across reboots)`;

const setting = (key: string, value: string): Repair => ({
  text: `sysctl -w ${key}=${value}`,
  run: (h) => h.sysctl.set(key, value),
});

/** One forwarding key the hub's plan sets: fail when the kernel has another value. */
function forwarding(id: string, key: string, why: string): Check<HubContext> {
  return {
    id,
    about: `${key} is 1`,
    run: async (ctx) => {
      const want = ctx.plan.sysctl[key];
      if (want === undefined) return [];
      const have = await ctx.host.sysctl.get(key);
      if (have === null)
        return {
          id,
          status: "unknown",
          found: `${key} cannot be read`,
          fix: [`cat /proc/sys/${key.replaceAll(".", "/")}`],
        };
      if (have === want) return { id, status: "ok", found: `${key} = ${have}` };
      return {
        id,
        status: "fail",
        found: `${key} = ${have}: ${why}`,
        fix: [`sysctl -w ${key}=${want}`, persist(key, want)],
        repair: setting(key, want),
      };
    },
  };
}

export const ipForward = forwarding(
  "ip-forward",
  "net.ipv4.ip_forward",
  "the kernel forwards no IPv4 packet, so no forward reaches its peer",
);

export const ipv6Forward = forwarding(
  "ipv6-forward",
  "net.ipv6.conf.all.forwarding",
  "the kernel forwards no IPv6 packet (hub.subnet6 is set)",
);

/**
 * With IPv6 forwarding on, an interface with accept_ra=1 ignores router advertisements: its SLAAC
 * address and default route expire (a common VPS lock-out). accept_ra=2 accepts them while forwarding.
 */
export const acceptRa: Check<HubContext> = {
  id: "accept-ra",
  about: "accept_ra = 2 on a public interface configured by router advertisements, when IPv6 forwards",
  run: async (ctx) => {
    const { host } = ctx;
    const fwd = await host.sysctl.get("net.ipv6.conf.all.forwarding");
    if (fwd !== "1" && !ctx.spec.hub.subnet6) return [];
    const ra = (await host.net.addresses()).filter(
      (a) => a.family === 6 && a.scope === "global" && a.dynamic && isPublicInterface(ctx, a.iface),
    );
    const ifaces = [...new Set(ra.map((a) => a.iface))];
    if (!ifaces.length)
      return {
        id: "accept-ra",
        status: "ok",
        found: "no public interface takes its IPv6 address from router advertisements",
      };
    const out: CheckResult[] = [];
    for (const i of ifaces) {
      const key = `net.ipv6.conf.${i}.accept_ra`;
      const have = await host.sysctl.get(key);
      const addr = ra.find((a) => a.iface === i);
      const which = `${i} has ${addr?.address}/${addr?.prefixlen} from router advertisements`;
      if (have === "2") out.push({ id: "accept-ra", status: "ok", found: `${which}; ${key} = 2` });
      else
        out.push({
          id: "accept-ra",
          status: "fail",
          found: `${which} and ${key} = ${have ?? "?"}: with IPv6 forwarding on, the kernel ignores them and the address and default route expire`,
          fix: [`sysctl -w ${key}=2`, `echo '${key} = 2' > /etc/sysctl.d/98-accept-ra.conf`],
          repair: setting(key, "2"),
        });
    }
    return out;
  },
};

const RP = ["off", "strict", "loose"];

/**
 * Reverse-path filtering on the tunnel, as the kernel applies it (the higher of `all` and the
 * interface's value). Strict drops a packet from the tunnel whose source the hub routes another way
 * (an address behind a peer that is not in its AllowedIPs route): a warning, since porthole's own
 * forwards are replied to from the peer's tunnel address.
 */
export const rpFilter: Check<HubContext> = {
  id: "rp-filter",
  about: "reverse-path filtering on the tunnel is off or loose",
  run: async (ctx) => {
    const wg = ctx.spec.hub.interface;
    const key = `net.ipv4.conf.${wg}.rp_filter`;
    const [all, own] = await Promise.all([
      ctx.host.sysctl.get("net.ipv4.conf.all.rp_filter"),
      ctx.host.sysctl.get(key),
    ]);
    if (all === null || own === null)
      return {
        id: "rp-filter",
        status: "unknown",
        found: `${own === null ? key : "net.ipv4.conf.all.rp_filter"} cannot be read (is ${wg} up?)`,
        fix: [`sysctl net.ipv4.conf.all.rp_filter ${key}`],
      };
    const eff = Math.max(Number(all), Number(own));
    const found = `${RP[eff] ?? eff} on ${wg} (net.ipv4.conf.all.rp_filter = ${all}, ${key} = ${own}; the kernel uses the higher)`;
    if (eff !== 1) return { id: "rp-filter", status: "ok", found };
    return {
      id: "rp-filter",
      status: "warn",
      found: `${found}: a packet from the tunnel whose source the hub routes another way is dropped`,
      fix: [
        `sysctl -w ${key}=2${all === "1" ? " net.ipv4.conf.all.rp_filter=2" : ""}`,
        `echo '${key} = 2' > /etc/sysctl.d/98-rp-filter.conf`,
      ],
      repair: {
        text: `sysctl -w ${key}=2${all === "1" ? " net.ipv4.conf.all.rp_filter=2" : ""}`,
        run: async (h) => {
          await h.sysctl.set(key, "2");
          if (all === "1") await h.sysctl.set("net.ipv4.conf.all.rp_filter", "2");
        },
      },
    };
  },
};

/** Share of conntrack's table in use from which new connections are at risk (warn) / being dropped soon (fail). */
export const CONNTRACK_WARN = 0.75;
export const CONNTRACK_FAIL = 0.9;

/** nf_conntrack_count / nf_conntrack_max: when the table is full, the kernel drops new connections. */
export const conntrackFill: Check<HubContext> = {
  id: "conntrack",
  about: "conntrack's table is less than 75% full",
  run: async (ctx) => {
    const [count, max] = await Promise.all([
      ctx.host.sysctl.get("net.netfilter.nf_conntrack_count"),
      ctx.host.sysctl.get("net.netfilter.nf_conntrack_max"),
    ]);
    if (count === null || max === null || !Number(max))
      return {
        id: "conntrack",
        status: "unknown",
        found:
          "net.netfilter.nf_conntrack_count/max cannot be read: conntrack is not loaded (no NAT rule yet?)",
        fix: ["lsmod | grep nf_conntrack; porthole apply loads it with its NAT rules"],
      };
    const share = Number(count) / Number(max);
    const found = `${count} of ${max} tracked connections (${(share * 100).toFixed(share < 0.01 ? 2 : 0)}%)`;
    if (share < CONNTRACK_WARN) return { id: "conntrack", status: "ok", found };
    const bigger = String(Number(max) * 2);
    return {
      id: "conntrack",
      status: share < CONNTRACK_FAIL ? "warn" : "fail",
      found: `${found}: when it is full the kernel drops new connections ("nf_conntrack: table full" in dmesg)`,
      fix: [
        `sysctl -w net.netfilter.nf_conntrack_max=${bigger}`,
        `echo 'net.netfilter.nf_conntrack_max = ${bigger}' > /etc/sysctl.d/98-conntrack.conf`,
      ],
    };
  },
};
