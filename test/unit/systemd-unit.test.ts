// The systemd unit porthole writes (and the plan's files, which carry it): the daemon's stop takes forwarding down, the sandbox is there,
// and systemd itself accepts the file (`systemd-analyze verify`).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { compile } from "../../src/compile/compile.ts";
import { systemdUnit, unitName } from "../../src/compile/systemd.ts";
import { DAEMON_ENV } from "../../src/plan/daemon-env.ts";
import { loadSpec } from "../../src/spec/load.ts";
import { GOLDEN_DIR } from "./helpers/golden.ts";
import { needTools, which } from "./helpers/tools.ts";

const keys = (unit: string) =>
  unit
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => l.slice(0, l.indexOf("=")));
const value = (unit: string, key: string) =>
  unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

test("daemon unit: runs the daemon with --down-on-stop, restarts it, tells it it runs in the unit", () => {
  const u = systemdUnit("hub", "hub", "/usr/local/bin/porthole", {}, "daemon");
  assert.deepEqual(value(u, "ExecStart"), ["/usr/local/bin/porthole hub run --down-on-stop"]);
  assert.deepEqual(value(u, "Restart"), ["always"]);
  assert.ok(value(u, "Environment").includes(`PORTHOLE_UNIT=${unitName("hub")}`));
  // The daemon's memory settings, each one quoted assignment (systemd splits unquoted values at spaces).
  for (const [k, v] of Object.entries(DAEMON_ENV)) assert.ok(value(u, "Environment").includes(`"${k}=${v}"`));
  assert.match(DAEMON_ENV.NODE_OPTIONS ?? "", /^--max-semi-space-size=\d+ --max-old-space-size=\d+/);
});

test("oneshot unit: its stop takes the running state down but keeps the files a boot needs", () => {
  const u = systemdUnit("peer", "rpi", "/usr/local/bin/porthole");
  assert.deepEqual(value(u, "ExecStart"), ["/usr/local/bin/porthole apply --from-state"]);
  assert.deepEqual(value(u, "ExecStop"), ["/usr/local/bin/porthole down --keep-files"]);
  assert.ok(!u.includes("NODE_OPTIONS"), "a one-off apply at boot needs no memory flags");
});

test("both units are sandboxed: network capabilities only, read-only system, writable paths follow the env", () => {
  for (const kind of ["oneshot", "daemon"] as const) {
    const u = systemdUnit("hub", "hub", "/usr/local/bin/porthole", { PORTHOLE_STATE_DIR: "/srv/ph" }, kind);
    assert.deepEqual(value(u, "CapabilityBoundingSet"), ["CAP_NET_ADMIN CAP_NET_RAW"]);
    for (const k of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables"])
      assert.deepEqual(value(u, k), ["yes"], `${kind}: ${k}`);
    assert.deepEqual(value(u, "ProtectSystem"), ["strict"]);
    assert.deepEqual(value(u, "ReadWritePaths"), ["-/etc/porthole -/srv/ph -/etc/sysctl.d -/proc/sys/net"]);
    assert.deepEqual(value(u, "DeviceAllow"), ["/dev/net/tun rw"]);
    assert.deepEqual(value(u, "RuntimeDirectory"), ["wireguard"]);
    assert.equal(new Set(keys(u)).has("User"), false, "root: porthole changes the network");
  }
});

test("systemd-analyze verify accepts both units", (t) => {
  if (!needTools(t, ["systemd-analyze"])) return;
  const dir = mkdtempSync(join(tmpdir(), "porthole-unit-"));
  try {
    for (const kind of ["oneshot", "daemon"] as const) {
      // verify checks that ExecStart's program exists: use one that does.
      const file = join(dir, `porthole-${kind}.service`);
      writeFileSync(file, systemdUnit("hub", "hub", which("true") as string, {}, kind));
      const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
      assert.equal(r.status, 0, `${kind}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), "", `${kind}: no warnings`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the plan carries its files as data: the sysctl file (or its removal) and, when asked, the unit", () => {
  const file = join(GOLDEN_DIR, "seed", "porthole.yaml");
  const r = loadSpec(readFileSync(file, "utf8"), file);
  assert.ok(r.ok);
  const unit = {
    bin: "/usr/local/bin/porthole",
    env: { PORTHOLE_STATE_DIR: "/srv/ph" },
    kind: "daemon" as const,
  };
  const hub = compile(r.spec, "hub", { unit });
  assert.deepEqual(
    hub.files.map((f) => [f.path, f.mode.toString(8), f.purpose]),
    [
      ["/etc/sysctl.d/99-porthole.conf", "644", "sysctl"],
      ["/etc/systemd/system/porthole-hub.service", "644", "unit"],
    ],
  );
  assert.match(hub.files[0]?.content ?? "", /^net\.ipv4\.ip_forward = 1$/m);
  assert.equal(hub.files[1]?.content, systemdUnit("hub", "hub", unit.bin, unit.env, "daemon"));
  // A peer without transparent forwards needs no kernel setting: its sysctl file is planned away.
  const rpi = compile(r.spec, "rpi");
  assert.deepEqual(rpi.files, [
    { path: "/etc/sysctl.d/99-porthole.conf", content: null, mode: 0o644, purpose: "sysctl" },
  ]);
});
