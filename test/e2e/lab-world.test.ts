// The lab's plumbing, checked the way a person would: requests between the namespaces, what the other
// side sees as the source, two wireguard-go `wg0`s side by side, and nothing left over after teardown.
// Needs root. In CI (CI=true) a missing prerequisite fails; elsewhere these tests skip and say why.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../src/host/run.ts";
import { createWorld } from "../../src/lab/create.ts";
import { labProblems } from "../../src/lab/prereq.ts";
import { isRunning, waitFor } from "../../src/lab/procs.ts";
import { changeHomeAddress } from "../../src/lab/renumber.ts";
import { startWebdav } from "../../src/lab/services.ts";
import { LAB_BASE_DIR, LAB_HOSTS, type LabHost } from "../../src/lab/state.ts";
import { destroyWorld } from "../../src/lab/teardown.ts";
import { LAB } from "../../src/lab/topology.ts";
import { listWorlds, type World } from "../../src/lab/world.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/net/wgkey.ts";
import { inCI } from "../unit/helpers/tools.ts";

const problems = labProblems();
const skip = problems.length > 0 && !inCI() ? `the lab needs: ${problems.join("; ")}` : false;
const runId = randomBytes(2).toString("hex");
const WG_ENV = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" };

function labTest(name: string, fn: () => Promise<void>) {
  test(name, { skip, timeout: 120_000 }, async () => {
    if (problems.length) assert.fail(`lab prerequisites missing (CI never skips): ${problems.join("; ")}`);
    await fn();
  });
}

/** A fresh world for one test, destroyed afterwards whether the test passed or not. */
async function withWorld(tag: string, fn: (w: World) => Promise<void>): Promise<void> {
  const name = `lw${runId}${tag}`;
  let failure: unknown;
  try {
    await fn(await createWorld(name));
  } catch (e) {
    failure = e;
  }
  try {
    await destroyWorld(name);
  } catch (e) {
    if (!failure) failure = e;
  }
  if (failure) throw failure;
}

/** A tiny HTTP server (node, since it is certainly installed) that answers with the caller's address. */
async function echoServer(w: World, host: LabHost, port: number) {
  const code = `require("http").createServer((q,r)=>r.end(q.socket.remoteAddress)).listen(${port},"0.0.0.0")`;
  const p = await w.spawn(host, [process.execPath, "-e", code], { label: "echo" });
  await waitFor(`echo server in ${host}`, async () => {
    if (!isRunning(p.pid)) throw new Error(`echo server exited: ${w.logTail(p.log)}`);
    const r = await curl(w, host, `http://127.0.0.1:${port}/`);
    return r.code === 0;
  });
  return p;
}

const curl = (w: World, host: LabHost, url: string, extra: string[] = []) =>
  w.exec(host, ["curl", "-sS", "--max-time", "3", ...extra, url], { allowFail: true });

async function curlOk(w: World, host: LabHost, url: string, extra: string[] = []): Promise<string> {
  const r = await curl(w, host, url, extra);
  assert.equal(r.code, 0, `curl ${url} from ${host} failed: ${r.stderr}`);
  return r.stdout;
}

const netnsList = async () => (await run(["ip", "netns", "list"])).stdout;

labTest(
  "from the peer, the client is reached through the home router's NAT and sees home's address",
  async () => {
    await withWorld("n", async (w) => {
      await echoServer(w, "client", 9000);
      await echoServer(w, "hub", 9000);
      // The peer's request leaves home masqueraded: the internet sees the router, never 192.168.77.2.
      assert.equal(await curlOk(w, "peer", `http://${LAB.client}:9000/`), LAB.homeWan);
      assert.equal(await curlOk(w, "peer", `http://${LAB.clientToHome}:9000/`), LAB.homeWan);
      // The hub and the client reach each other over the public link, with their own addresses.
      assert.equal(await curlOk(w, "hub", `http://${LAB.client}:9000/`), LAB.hubPublic);
      assert.equal(await curlOk(w, "client", `http://${LAB.hubPublic}:9000/`), LAB.client);
      // The second client address is usable as a distinct source (allow-list tests).
      assert.equal(
        await curlOk(w, "client", `http://${LAB.hubPublic}:9000/`, ["--interface", LAB.client2]),
        LAB.client2,
      );
      // The hub reaches home's public address (the peer's apparent endpoint) through the client.
      assert.equal(
        (await curl(w, "hub", `http://${LAB.homeWan}:1/`)).code,
        7,
        "home answers (refused), not unreachable",
      );
      // Home's LAN is not reachable from the internet: the client has no route to it.
      const direct = await curl(w, "client", `http://${LAB.peer}:9000/`, ["--max-time", "1"]);
      assert.notEqual(direct.code, 0);
      // Each host is its own machine: hostname and /etc/porthole are per host.
      assert.equal((await w.exec("peer", ["hostname"])).stdout.trim(), "peer");
      await w.exec("peer", ["cp", "/etc/hostname", "/etc/porthole/marker"]);
      assert.ok(existsSync(join(w.hostRecord("peer").configDir, "marker")));
      assert.ok(!existsSync(join(w.hostRecord("hub").configDir, "marker")));
      assert.ok(!existsSync("/etc/porthole/marker"), "the machine's own /etc/porthole is untouched");
      assert.equal((await w.exec("hub", ["ls", "/etc/porthole"])).stdout, "");
      assert.equal(
        (await w.exec("hub", ["printenv", "PORTHOLE_CONFIG_DIR"])).stdout.trim(),
        w.hostRecord("hub").configDir,
      );

      // The home router gets a new public address: new connections come from it.
      await changeHomeAddress(w, "198.51.100.3");
      assert.equal(w.homeWan, "198.51.100.3");
      assert.equal(await curlOk(w, "peer", `http://${LAB.client}:9000/`), "198.51.100.3");
    });
  },
);

labTest(
  "two wireguard-go wg0s (hub and peer) live side by side and tunnel through the home NAT",
  async () => {
    await withWorld("w", async (w) => {
      for (const h of ["hub", "peer"] as const)
        await w.spawn(h, ["wireguard-go", "-f", "wg0"], { env: WG_ENV });
      for (const h of ["hub", "peer"] as const) {
        await waitFor(
          `wg0 in ${h}`,
          async () => (await w.exec(h, ["wg", "show", "wg0"], { allowFail: true })).code === 0,
        );
      }
      // Two separate daemons: each host's UAPI socket is in its own /run/wireguard.
      const hubKey = generatePrivateKey();
      const peerKey = generatePrivateKey();
      writeFileSync(join(w.hostRecord("hub").configDir, "wg0.key"), `${hubKey}\n`, { mode: 0o600 });
      writeFileSync(join(w.hostRecord("peer").configDir, "wg0.key"), `${peerKey}\n`, { mode: 0o600 });
      await w.exec("hub", [
        "wg",
        "set",
        "wg0",
        "private-key",
        "/etc/porthole/wg0.key",
        "listen-port",
        "51820",
      ]);
      await w.exec("peer", [
        "wg",
        "set",
        "wg0",
        "private-key",
        "/etc/porthole/wg0.key",
        "listen-port",
        "41414",
      ]);
      assert.equal((await w.exec("hub", ["wg", "show", "wg0", "listen-port"])).stdout.trim(), "51820");
      assert.equal((await w.exec("peer", ["wg", "show", "wg0", "listen-port"])).stdout.trim(), "41414");
      assert.equal(
        (await w.exec("hub", ["wg", "show", "wg0", "public-key"])).stdout.trim(),
        publicKeyOf(hubKey),
      );
      assert.equal(
        (await w.exec("peer", ["wg", "show", "wg0", "public-key"])).stdout.trim(),
        publicKeyOf(peerKey),
      );
      assert.equal((await w.exec("hub", ["ls", "/run/wireguard"])).stdout.trim(), "wg0.sock");
      assert.equal((await w.exec("client", ["ls", "/run/wireguard"])).stdout.trim(), "");

      // A tunnel, as the seed sets it up: the peer dials the hub's public address from behind home's NAT.
      await w.exec("hub", ["wg", "set", "wg0", "peer", publicKeyOf(peerKey), "allowed-ips", "10.8.0.2/32"]);
      await w.exec("peer", [
        "wg",
        "set",
        "wg0",
        "peer",
        publicKeyOf(hubKey),
        "allowed-ips",
        "10.8.0.0/24",
        "endpoint",
        `${LAB.hubPublic}:51820`,
        "persistent-keepalive",
        "1",
      ]);
      await w.exec("hub", ["ip", "-batch", "-"], {
        input: "address add 10.8.0.1/24 dev wg0\nlink set wg0 up\n",
      });
      await w.exec("peer", ["ip", "-batch", "-"], {
        input: "address add 10.8.0.2/24 dev wg0\nlink set wg0 up\n",
      });
      await echoServer(w, "hub", 9000);
      const throughTunnel = () =>
        waitFor("a request through the tunnel", async () => {
          const r = await curl(w, "peer", "http://10.8.0.1:9000/", ["--max-time", "1"]);
          return r.code === 0 ? r.stdout : undefined;
        });
      assert.equal(await throughTunnel(), "10.8.0.2");
      const endpoint = async () => (await w.exec("hub", ["wg", "show", "wg0", "endpoints"])).stdout;
      assert.match(await endpoint(), new RegExp(`\\t${LAB.homeWan.replaceAll(".", "\\.")}:\\d+\\n`));

      // Home's address changes: the peer's next packets come from the new one and the hub follows.
      await changeHomeAddress(w, "198.51.100.3");
      assert.equal(await throughTunnel(), "10.8.0.2");
      assert.match(await endpoint(), /\t198\.51\.100\.3:\d+\n/);
    });
  },
);

labTest("rclone serves a directory over WebDAV from the peer", async () => {
  await withWorld("d", async (w) => {
    const share = join(w.hostRecord("peer").root, "share");
    await w.exec("peer", ["mkdir", "-p", share]);
    writeFileSync(join(share, "hello.txt"), "hello from the peer\n");
    const p = await startWebdav(w, share, "demo", "s3cret");
    assert.ok(w.running().some((r) => r.pid === p.pid));
    // From the home router, over the LAN: credentials work, a wrong password is refused.
    const url = `http://${LAB.peer}:8080/hello.txt`;
    assert.equal(await curlOk(w, "home", url, ["-u", "demo:s3cret"]), "hello from the peer\n");
    const bad = await curl(w, "home", url, ["-u", "demo:wrong", "-o", "/dev/null", "-w", "%{http_code}"]);
    assert.equal(bad.stdout, "401");
    await w.stop(p.pid);
    assert.ok(!isRunning(p.pid));
  });
});

/** Every PID in the lab's namespaces right now (holders, spawned and daemonized processes). */
async function labPids(w: World): Promise<number[]> {
  const out: number[] = [];
  for (const h of LAB_HOSTS) {
    const r = await run(["ip", "netns", "pids", w.netns(h)]);
    out.push(...r.stdout.split("\n").filter(Boolean).map(Number));
  }
  return out;
}

function assertGone(name: string, namespaces: string[], pids: number[], list: string) {
  for (const ns of namespaces)
    assert.ok(!list.split("\n").some((l) => l.split(" ")[0] === ns), `${ns} still listed`);
  for (const pid of pids) assert.ok(!isRunning(pid), `process ${pid} still running`);
  assert.ok(!existsSync(join(LAB_BASE_DIR, `${name}.json`)), "state file removed");
  assert.ok(!existsSync(join(LAB_BASE_DIR, name)), "lab directory removed");
  assert.ok(!listWorlds().some((l) => l.name === name));
}

labTest("destroyWorld removes every namespace and process, and is idempotent", async () => {
  const name = `lw${runId}x`;
  try {
    const w = await createWorld(name);
    const namespaces = LAB_HOSTS.map((h) => w.netns(h));
    await w.spawn("peer", ["sleep", "1000"]);
    // A daemon that forks away from the lab's records, as wireguard-go does without -f.
    await w.exec("hub", ["wireguard-go", "wg0"], { env: WG_ENV });
    await waitFor(
      "wg0 in hub",
      async () => (await w.exec("hub", ["wg", "show", "wg0"], { allowFail: true })).code === 0,
    );
    const pids = await labPids(w);
    assert.ok(pids.length >= 6, `holders, sleep and wireguard-go: ${pids}`);
    for (const ns of namespaces) assert.match(await netnsList(), new RegExp(`^${ns}\\b`, "m"));

    const report = await destroyWorld(name);
    assert.equal(report.existed, true);
    assert.deepEqual([...report.namespacesDeleted].sort(), [...namespaces].sort());
    assertGone(name, namespaces, pids, await netnsList());
    assert.equal((await destroyWorld(name)).existed, false, "a second destroy has nothing to do");
  } finally {
    await destroyWorld(name);
  }
});

labTest("destroyWorld cleans up from the state file after the creating process crashed", async () => {
  const name = `lw${runId}c`;
  const child = `
    import { createWorld } from ${JSON.stringify(import.meta.resolve("../../src/lab/create.ts"))};
    const w = await createWorld(${JSON.stringify(name)});
    await w.spawn("peer", ["sleep", "1000"]);
    await w.spawn("client", ["sleep", "1000"]);
    await w.exec("hub", ["wireguard-go", "wg0"], { env: ${JSON.stringify(WG_ENV)} });
    process.kill(process.pid, "SIGKILL");
  `;
  try {
    const r = await run(
      [process.execPath, "--import", import.meta.resolve("tsx"), "--input-type=module", "-e", child],
      { allowFail: true },
    );
    assert.match(r.stderr, /SIGKILL/, `the child was killed mid-flight: ${r.stderr}`);
    const [summary] = listWorlds().filter((l) => l.name === name);
    assert.ok(summary, "the crashed lab is listed");
    assert.deepEqual([...summary.hostsUp].sort(), [...LAB_HOSTS].sort(), "its hosts outlived the creator");
    assert.equal(summary.spawned.filter((p) => p.running).length, 2);
    const state = JSON.parse(readFileSync(summary.statePath, "utf8")) as {
      hosts: Record<string, { netns: string }>;
    };
    const namespaces = Object.values(state.hosts).map((h) => h.netns);
    const pids: number[] = [];
    for (const ns of namespaces) {
      pids.push(...(await run(["ip", "netns", "pids", ns])).stdout.split("\n").filter(Boolean).map(Number));
    }
    assert.ok(pids.length >= 7, `holders, two sleeps, wireguard-go: ${pids}`);
    // Some parts already gone, as after a half-finished manual cleanup.
    await run(["ip", "netns", "delete", `${summary.prefix}-home`]);

    await destroyWorld(name);
    assertGone(name, namespaces, pids, await netnsList());
    assert.equal(statSync(LAB_BASE_DIR).isDirectory(), true);
  } finally {
    await destroyWorld(name);
  }
});
