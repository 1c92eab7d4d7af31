// A container on a lab host, made the way Docker makes one for `docker run -p HOSTPORT:PORT`: its own
// network namespace on a bridge (docker0, 172.17.0.1/16; the container is 172.17.0.2), a DNAT of the
// published port on the host's own addresses, masquerade of the container's outbound traffic, and
// Docker's FORWARD rules under a DROP policy (iptables, as Docker writes them).
//
// Like a Docker container, it runs one program: `unshare --net --fork --kill-child -- PROGRAM...`,
// spawned by the lab, so destroyWorld stops it like any other spawned process (unshare takes its child
// along), and the namespace and its veth pair disappear with it.
import type { RunOptions, RunResult } from "../host/run.ts";
import { run } from "../host/run.ts";
import { isRunning, nsId, waitFor } from "./procs.ts";
import type { LabHost } from "./state.ts";
import type { Spawned, World } from "./world.ts";

export const CONTAINER = {
  bridge: "docker0",
  gateway: "172.17.0.1",
  address: "172.17.0.2",
  net: "172.17.0.0/16",
  /** The host's end of the veth pair (the container's end is its eth0). */
  veth: "vethlab0",
} as const;

export interface Published {
  proto: "tcp" | "udp";
  /** The port on the host's own addresses (what `-p HOSTPORT:` names). */
  hostPort: number;
  /** The port inside the container. */
  port: number;
}

export interface Container {
  host: LabHost;
  /** The process holding the container's network namespace. */
  pid: number;
  address: string;
  /** The container's program (its log has the program's output). */
  process: Spawned;
  /** Runs a command in the container's network namespace (with the host's files). */
  exec(argv: string[], opts?: RunOptions): Promise<RunResult>;
}

/** Docker's nat and filter rules for one container on docker0, as `iptables-restore --noflush` input. */
export function dockerRules(publish: Published[]): string {
  const { bridge, address, net } = CONTAINER;
  return [
    "*nat",
    ":DOCKER - [0:0]",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    `-A POSTROUTING -s ${net} ! -o ${bridge} -j MASQUERADE`,
    `-A DOCKER -i ${bridge} -j RETURN`,
    ...publish.map(
      (p) =>
        `-A DOCKER ! -i ${bridge} -p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${address}:${p.port}`,
    ),
    "COMMIT",
    "*filter",
    ":FORWARD DROP [0:0]",
    ":DOCKER - [0:0]",
    `-A FORWARD -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A FORWARD -o ${bridge} -j DOCKER`,
    `-A FORWARD -i ${bridge} ! -o ${bridge} -j ACCEPT`,
    `-A FORWARD -i ${bridge} -o ${bridge} -j ACCEPT`,
    ...publish.map(
      (p) =>
        `-A DOCKER -d ${address}/32 ! -i ${bridge} -o ${bridge} -p ${p.proto} -m ${p.proto} --dport ${p.port} -j ACCEPT`,
    ),
    "COMMIT",
    "",
  ].join("\n");
}

/**
 * Starts PROGRAM (an argv) in a Docker-like container on HOST that publishes the given ports, and
 * resolves when the container's network is up (not necessarily the program). One container per host
 * (fixed names and addresses).
 */
export async function startContainer(
  world: World,
  host: LabHost,
  program: string[],
  publish: Published[],
): Promise<Container> {
  const holder = await world.spawn(host, ["unshare", "--net", "--fork", "--kill-child", "--", ...program], {
    label: "container",
  });
  // The holder starts as nsenter in our own namespace, enters the lab host's, then unshares its own:
  // only a namespace that is neither is the container's (moving eth0 earlier would move it out of the lab).
  const hostNet = nsId(`/run/netns/${world.netns(host)}`);
  const ourNet = nsId("/proc/self/ns/net");
  await waitFor("the container's network namespace", () => {
    if (!isRunning(holder.pid)) throw new Error(`the container exited: ${world.logTail(holder.log)}`);
    const own = nsId(`/proc/${holder.pid}/ns/net`);
    return (
      own !== undefined &&
      hostNet !== undefined &&
      ourNet !== undefined &&
      own.ino !== hostNet.ino &&
      own.ino !== ourNet.ino
    );
  });
  const inside = (argv: string[], opts?: RunOptions) =>
    run(["nsenter", "-t", String(holder.pid), "-n", "--", ...argv], opts);
  const { bridge, gateway, address, veth } = CONTAINER;
  await run(["ip", "-n", world.netns(host), "-batch", "-"], {
    input: [
      `link add ${bridge} type bridge`,
      `address add ${gateway}/16 dev ${bridge}`,
      `link set ${bridge} up`,
      `link add ${veth} type veth peer name eth0 netns ${holder.pid}`,
      `link set ${veth} master ${bridge}`,
      `link set ${veth} up`,
      "",
    ].join("\n"),
  });
  await inside(["ip", "-batch", "-"], {
    input: [
      "link set lo up",
      `address add ${address}/16 dev eth0`,
      "link set eth0 up",
      `route add default via ${gateway}`,
      "",
    ].join("\n"),
  });
  await world.exec(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await world.exec(host, ["iptables-restore", "--noflush"], { input: dockerRules(publish) });
  return {
    host,
    pid: holder.pid,
    address,
    process: holder,
    exec: inside,
  };
}
