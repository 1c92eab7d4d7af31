// The hub's endpoint as peers dial it: "host", "host:port", "[v6]:port" or a bare IPv6 address.
import { formatAddr, parseAddr } from "../net/ip.ts";
import { HOST_RE } from "./defaults.ts";
import type { Hub } from "./types.ts";

/** Splits "host", "host:port", "[v6]:port" or a bare IPv6 address. */
function splitEndpoint(text: string): { host: string; port?: number } {
  const m =
    /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ??
    (text.split(":").length === 2 ? /^([^:]+):(\d+)$/.exec(text) : null);
  if (!m) return { host: text };
  return { host: m[1] as string, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The host as written in an endpoint (IPv6 in brackets), or undefined when it is no address or DNS name. */
function endpointHost(host: string): string | undefined {
  const addr = parseAddr(host);
  if (addr) return addr.family === 6 ? `[${formatAddr(addr)}]` : formatAddr(addr);
  return HOST_RE.test(host) && !/^[\d.]+$/.test(host) ? host : undefined;
}

/**
 * "host", "host:port", "[v6]:port" or a bare IPv6 address as { host, port }: an IPv6 host in brackets,
 * the port `defaultPort` when none is given; undefined when it is none of these or the port is out of range.
 */
export function parseEndpoint(text: string, defaultPort: number): Hub["endpoint"] | undefined {
  const { host, port = defaultPort } = splitEndpoint(text);
  if (port < 1 || port > 65535) return undefined;
  const h = endpointHost(host);
  return h === undefined ? undefined : { host: h, port };
}

/** An endpoint as peers dial it and WireGuard writes it: "host:port" (an IPv6 host in its brackets). */
export const endpointText = (e: Hub["endpoint"]) => `${e.host}:${e.port}`;

/** Why parseEndpoint refused `text` (the text of a diagnostic, after the value). */
export function endpointProblem(text: string): string {
  const { host, port } = splitEndpoint(text);
  if (endpointHost(host) !== undefined && port !== undefined && (port < 1 || port > 65535))
    return `has port ${port}, which is out of range; accepted: 1-65535`;
  return "is not a host name or IP address (with an optional :port)";
}
