// Probes of the network for `porthole doctor` (and status's probe of the forwards' targets): pings with
// Don't Fragment, the kernel's route choice, a TCP connect, a UDP datagram, the clock of an HTTP server. Read-only; each sends only to the
// address it is given.
import { createSocket } from "node:dgram";
import { type ClientRequest, get } from "node:http";
import { connect } from "node:net";
import { run } from "./run.ts";
import type { ConnectResult, HttpProbe, PingResult, RouteChoice, RouteEntry } from "./types.ts";
import { routeDsts } from "./wireguard.ts";

/**
 * Reads `ping -n -c 1 -M do` output: answered (exit 0), too-big (refused locally, or a "Frag needed"
 * came back; `mtu` as either says), lost (nothing came back), or an error (no route, a bad address).
 */
export function parsePing(code: number, stdout: string, stderr: string): PingResult {
  if (code === 0) return { kind: "answered" };
  const text = `${stdout}\n${stderr}`;
  const local = /message too long, mtu[= ]+(\d+)/i.exec(text);
  if (local) return { kind: "too-big", mtu: Number(local[1]) };
  const frag = /Frag(?:mentation)? needed.*?mtu = (\d+)/i.exec(text);
  if (frag) return { kind: "too-big", mtu: Number(frag[1]) };
  if (/Packet too big.*?mtu ?= ?(\d+)/i.test(text))
    return { kind: "too-big", mtu: Number(/mtu ?= ?(\d+)/i.exec(text)?.[1]) };
  if (code === 1) return { kind: "lost" };
  return { kind: "error", message: (stderr.trim() || stdout.trim()).split("\n")[0] ?? `exit ${code}` };
}

/** One ICMP echo with Don't Fragment carrying `size` payload bytes (packet = size + 28 IPv4, + 48 IPv6). */
export async function pingDf(address: string, size: number, timeoutMs: number): Promise<PingResult> {
  const six = address.includes(":");
  const r = await run(
    [
      "ping",
      six ? "-6" : "-4",
      "-n",
      "-c",
      "1",
      "-W",
      String(Math.max(1, Math.ceil(timeoutMs / 1000))),
      "-M",
      "do",
      "-s",
      String(size),
      address,
    ],
    { allowFail: true, timeoutMs: timeoutMs + 5000 },
  );
  return parsePing(r.code, r.stdout, r.stderr);
}

/** `ip -j route get ADDRESS [mark M]`: the device and source the kernel picks; null when unroutable. */
export async function routeGet(address: string, mark?: number): Promise<RouteChoice | null> {
  const argv = ["ip", "-j", "route", "get", address, ...(mark === undefined ? [] : ["mark", String(mark)])];
  const r = await run(argv, { allowFail: true });
  if (r.code !== 0) return null;
  return parseRouteGet(r.stdout);
}

/** See Host.probe.routesWithin; [] when ip fails (no such family here). */
export async function routesWithin(cidr: string): Promise<RouteEntry[]> {
  const r = await run(["ip", "-j", "route", "show", "root", cidr], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const routes = JSON.parse(r.stdout) as { dst: string; dev?: string; type?: string; protocol?: string }[];
  const dsts = routeDsts(r.stdout);
  return routes.map((x, i) => ({
    dst: dsts[i] as string,
    device: x.dev ?? null,
    type: x.type ?? "unicast",
    protocol: x.protocol ?? null,
  }));
}

export function parseRouteGet(json: string): RouteChoice | null {
  const [first] = JSON.parse(json) as { dev?: string; prefsrc?: string; gateway?: string; type?: string }[];
  if (!first?.dev) return null;
  return { device: first.dev, source: first.prefsrc ?? null, gateway: first.gateway ?? null };
}

/**
 * A TCP connect, closed at once: accepted, refused, timeout (nothing came back within `timeoutMs`),
 * unreachable, or another error (see ConnectOutcome). Never rejects.
 */
export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: timeoutMs });
    const done = (r: ConnectResult) => {
      s.destroy();
      resolve(r);
    };
    s.once("connect", () => done({ outcome: "accepted", error: null }));
    s.once("timeout", () => done({ outcome: "timeout", error: null }));
    s.once("error", (e: NodeJS.ErrnoException) => done(connectFailure(e.code ?? e.message)));
  });
}

/**
 * What a failed connect's error means (each checked in namespaces: docs/design-notes.md). Linux turns
 * an ICMP port unreachable into ECONNREFUSED like a reset; the other ICMP destination unreachables into
 * EHOSTUNREACH (host unreachable, admin-prohibited, host-prohibited; also a neighbour that never
 * answered ARP), ENETUNREACH (net unreachable, net-prohibited; also no route here), ENOPROTOOPT
 * (protocol unreachable), EHOSTDOWN (host unknown), ENONET (host isolated).
 */
export function connectFailure(code: string): ConnectResult {
  if (code === "ECONNREFUSED") return { outcome: "refused", error: code };
  if (code === "ETIMEDOUT") return { outcome: "timeout", error: code };
  if (UNREACHABLE.has(code)) return { outcome: "unreachable", error: code };
  return { outcome: "error", error: code };
}

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "ENOPROTOOPT", "EHOSTDOWN", "ENONET"]);

/** One UDP datagram to address:port from an ephemeral port; resolves once it is sent (or failed to be). */
export function sendDatagram(address: string, port: number, payload: string): Promise<void> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(":") ? "udp6" : "udp4");
    s.on("error", () => {
      s.close();
      resolve();
    });
    s.send(payload, port, address, () => {
      s.close();
      resolve();
    });
  });
}

/**
 * A GET of `url` (http://: the hub's API inside the tunnel): its status and the server's clock (the Date
 * header, ms since the epoch) against this machine's clock halfway through the request; an error (its
 * code: ECONNREFUSED, EHOSTUNREACH...; "no answer within N s") when nothing answered. Through node's
 * http client, not fetch: fetch refuses the Fetch standard's "bad ports" (6000, 10080...) itself, which
 * read as a hub not answering on a port the spec allows.
 */
export function httpProbe(url: string, timeoutMs: number): Promise<HttpProbe> {
  const sent = Date.now();
  return new Promise((resolve) => {
    const settle = (r: HttpProbe) => {
      clearTimeout(timer);
      resolve(r);
    };
    let req: ClientRequest;
    try {
      req = get(url, { agent: false }, (res) => {
        const got = Date.now();
        res.resume(); // the body is not read: drained, then the connection closes
        const remote = res.headers.date ? Date.parse(res.headers.date) : Number.NaN;
        settle({
          status: res.statusCode ?? 0,
          remoteMs: Number.isNaN(remote) ? null : remote,
          localMs: Math.round((sent + got) / 2),
          roundTripMs: got - sent,
        });
      });
    } catch (e) {
      resolve({ error: (e as NodeJS.ErrnoException).code ?? (e as Error).message }); // not an http:// URL
      return;
    }
    req.on("error", (e: NodeJS.ErrnoException) => settle({ error: e.code ?? e.message }));
    const timer = setTimeout(() => {
      settle({ error: `no answer within ${timeoutMs / 1000} s` });
      req.destroy();
    }, timeoutMs);
  });
}
