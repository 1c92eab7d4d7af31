// A Prometheus on the hub itself can scrape: the daemon serves /metrics on loopback (hub.metricsListen).
import assert from "node:assert/strict";
import { test } from "node:test";
import { withJoinedLab } from "./lab-fixture.ts";

test("a Prometheus on the hub scrapes /metrics on 127.0.0.1:9851; the API still refuses the hub's own address", async (t) => {
  await withJoinedLab(t, "mt", {}, async (lab) => {
    const local = await lab.world.exec("hub", ["curl", "-sS", "-m", "5", "http://127.0.0.1:9851/metrics"]);
    assert.match(local.stdout, /^porthole_build_info\{version="[^"]+",nodejs="v[^"]+"\} 1$/m, local.stderr);
    assert.match(local.stdout, /^porthole_peer_up\{peer="rpi"\} 1$/m);
    assert.match(local.stdout, /^porthole_hub_interface_up\{interface="wg0"\} 1$/m);
    assert.match(
      local.stdout,
      /^porthole_forward_connections_total\{forward="rpi-tcp-80",peer="rpi"\} \d+$/m,
    );
    assert.match(local.stdout, /^porthole_apply_duration_seconds_count [1-9]\d*$/m);
    assert.match(local.stdout, /^porthole_spec_valid 1$/m, "the same series as the API's /metrics");
    assert.doesNotMatch(local.stdout, / -1$/m);
    // Only /metrics: the API is not reachable through the metrics listener.
    const api = await lab.world.exec("hub", [
      ...["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"],
      "http://127.0.0.1:9851/v1/spec",
    ]);
    assert.equal(api.stdout, "404");
    // The API's listener answers peers only, as before.
    const own = await lab.world.exec("hub", [
      ...["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"],
      "http://10.8.0.1:51821/metrics",
    ]);
    assert.equal(own.stdout, "403");
    // Not on the public address.
    const pub = await lab.world.exec(
      "client",
      ["curl", "-sS", "-m", "3", "http://203.0.113.1:9851/metrics"],
      {
        allowFail: true,
      },
    );
    assert.notEqual(pub.code, 0);
  });
});
