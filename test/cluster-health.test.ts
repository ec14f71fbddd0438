import test from "ava";
import { once } from "node:events";
import type http from "node:http";
import type net from "node:net";
import { clusterAdminText } from "../proxy/upstream/admin.js";
import { Cluster } from "../proxy/upstream/cluster.js";
import type { Host } from "../proxy/upstream/host.js";
import { clusterJson, counter, get, gauge, httpServer, lbEndpoint, makeCluster, newStats, parse, tcpServer } from "./upstream-fixtures.js";

const fastHc = (extra: Record<string, unknown>) => ({
  timeout: "1s",
  interval: "0.05s",
  no_traffic_interval: "0.05s",
  unhealthy_threshold: 2,
  healthy_threshold: 2,
  ...extra,
});

/** Resolve when `host`'s health becomes `want` ("healthy" or not), waiting on the cluster's health events. */
async function healthBecomes(cluster: Cluster, host: Host, want: "healthy" | "unhealthy"): Promise<void> {
  while ((host.health() === "healthy") !== (want === "healthy")) {
    const [changed] = (await once(cluster, "health")) as [Host];
    void changed;
  }
}

/** An HTTP health endpoint whose status can be changed, counting the answers it gave per status. */
async function healthServer(t: import("ava").ExecutionContext) {
  const state = { status: 200, served: new Map<number, number>(), last: null as http.IncomingMessage | null, probes: 0 };
  const { server, port } = await httpServer(t, (req, res) => {
    if (req.url === "/healthz") {
      state.probes++;
      state.last = req;
      state.served.set(state.status, (state.served.get(state.status) ?? 0) + 1);
      res.statusCode = state.status;
      res.end();
      return;
    }
    res.end("app");
  });
  return { state, server, port };
}

test("HTTP health checks: hosts start failed, an unexpected status ejects at once, healthy_threshold brings it back", async (t) => {
  const a = await healthServer(t);
  const b = await healthServer(t);
  const stats = newStats();
  const cluster = new Cluster(
    parse(
      clusterJson("hc", [lbEndpoint("127.0.0.1", a.port), lbEndpoint("127.0.0.1", b.port)], {
        health_checks: [fastHc({ http_health_check: { path: "/healthz" } })],
      }),
    ),
    stats,
  );
  t.teardown(() => cluster.close());
  const [hostA, hostB] = cluster.hosts;
  // With active health checking configured, Envoy starts every host as failed_active_hc.
  t.is(hostA.healthFlagsString(), "/failed_active_hc");
  t.regex(clusterAdminText([cluster]), new RegExp(`^hc::127\\.0\\.0\\.1:${a.port}::health_flags::/failed_active_hc$`, "m"));

  await cluster.initialize();
  // One success at start-up is enough.
  t.is(hostA.healthFlagsString(), "healthy");
  t.is(hostB.healthFlagsString(), "healthy");
  t.is(gauge(stats, "cluster.hc.health_check.healthy"), 2);
  t.is(gauge(stats, "cluster.hc.membership_healthy"), 2);
  t.true(counter(stats, "cluster.hc.health_check.attempt") >= 2);
  t.is(a.state.last!.headers["user-agent"], "Envoy/HC");
  t.is(a.state.last!.headers.host, "hc");

  a.state.status = 503;
  await healthBecomes(cluster, hostA, "unhealthy");
  // unhealthy_threshold is 2, but an unexpected HTTP status ejects immediately.
  t.is(a.state.served.get(503), 1);
  t.is(hostA.healthFlagsString(), "/failed_active_hc");
  t.is(gauge(stats, "cluster.hc.membership_healthy"), 1);
  t.is(gauge(stats, "cluster.hc.health_check.healthy"), 1);
  t.true(counter(stats, "cluster.hc.health_check.failure") >= 1);
  for (let i = 0; i < 10; i++) t.is(cluster.chooseHost(), hostB);

  a.state.status = 200;
  const before = a.state.served.get(200) ?? 0;
  await healthBecomes(cluster, hostA, "healthy");
  t.is((a.state.served.get(200) ?? 0) - before, 2, "healthy_threshold successes were needed");
  t.is(gauge(stats, "cluster.hc.membership_healthy"), 2);
  t.is(counter(stats, "cluster.hc.health_check.network_failure"), 0);
});

test("TCP health checks: connection failures count toward unhealthy_threshold", async (t) => {
  const sockets = new Set<net.Socket>();
  const { server, port } = await tcpServer(t, (s) => sockets.add(s));
  const other = await tcpServer(t, () => {});
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("tcphc", [lbEndpoint("127.0.0.1", port), lbEndpoint("127.0.0.1", other.port)], {
      health_checks: [fastHc({ unhealthy_threshold: 3, tcp_health_check: {} })],
    }),
  );
  const host = cluster.hosts[0];
  t.is(host.health(), "healthy");
  const failuresBefore = counter(stats, "cluster.tcphc.health_check.network_failure");
  server.close();
  await healthBecomes(cluster, host, "unhealthy");
  t.is(counter(stats, "cluster.tcphc.health_check.network_failure") - failuresBefore, 3);
  t.is(host.healthFlagsString(), "/failed_active_hc");
  t.regex(clusterAdminText([cluster]), new RegExp(`^tcphc::127\\.0\\.0\\.1:${port}::health_flags::/failed_active_hc$`, "m"));
});

test("a health check timeout is a network failure and marks the host active_hc_timeout", async (t) => {
  const hang = await httpServer(t, () => {});
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("hang", [lbEndpoint("127.0.0.1", hang.port)], {
      health_checks: [fastHc({ timeout: "0.1s", unhealthy_threshold: 1, http_health_check: { path: "/healthz" } })],
    }),
  );
  const host = cluster.hosts[0];
  // The very first result decides: a timeout leaves the host failed, now also flagged as timed out.
  t.is(host.healthFlagsString(), "/failed_active_hc/active_hc_timeout");
  t.true(counter(stats, "cluster.hang.health_check.network_failure") >= 1);
});

test("retriable_statuses count toward unhealthy_threshold instead of ejecting at once", async (t) => {
  const a = await healthServer(t);
  const b = await healthServer(t);
  const { cluster } = await makeCluster(
    t,
    clusterJson("retr", [lbEndpoint("127.0.0.1", a.port), lbEndpoint("127.0.0.1", b.port)], {
      health_checks: [fastHc({ unhealthy_threshold: 3, http_health_check: { path: "/healthz", retriable_statuses: [{ start: 429, end: 430 }] } })],
    }),
  );
  const host = cluster.hosts[0];
  a.state.status = 429;
  await healthBecomes(cluster, host, "unhealthy");
  t.is(a.state.served.get(429), 3);
});

test("health checks use the configured host, headers, expected statuses and endpoint overrides", async (t) => {
  const a = await healthServer(t);
  const probe = await healthServer(t);
  a.state.status = 204;
  const { cluster } = await makeCluster(
    t,
    clusterJson(
      "hdrs",
      [
        lbEndpoint("127.0.0.1", a.port),
        // Traffic goes to a's port; health checks to `probe`'s port, with the endpoint's own Host.
        { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: a.port } }, health_check_config: { port_value: probe.port, hostname: "ep.example" } } },
      ],
      {
        health_checks: [
          fastHc({
            http_health_check: {
              path: "/healthz",
              host: "probe.example",
              expected_statuses: [{ start: 200, end: 300 }],
              request_headers_to_add: [{ header: { key: "x-probe", value: "100%%" } }],
            },
          }),
        ],
      },
    ),
  );
  t.is(cluster.hosts[0].health(), "healthy");
  t.is(cluster.hosts[1].health(), "healthy");
  t.is(a.state.last!.headers.host, "probe.example");
  t.is(a.state.last!.headers["x-probe"], "100%");
  t.is(probe.state.last!.headers.host, "ep.example");
});

test("until the cluster carries traffic, checks run at no_traffic_interval", async (t) => {
  const a = await healthServer(t);
  const { cluster } = await makeCluster(
    t,
    clusterJson("idle", [lbEndpoint("127.0.0.1", a.port)], {
      health_checks: [{ timeout: "1s", interval: "0.05s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } }],
    }),
  );
  const hc = cluster.healthChecker!;
  t.is(hc.interval(true, 0), 60_000);
  t.is((await get(cluster.chooseHost()!, "/app")).body, "app");
  t.is(hc.interval(true, 0), 50);
});

test("close() stops health checking and closes the health check connection", async (t) => {
  const a = await healthServer(t);
  const { cluster } = await makeCluster(
    t,
    clusterJson("stop", [lbEndpoint("127.0.0.1", a.port)], { health_checks: [fastHc({ http_health_check: { path: "/healthz" } })] }),
  );
  const hcSocket = a.state.last!.socket;
  const closed = once(hcSocket, "close");
  await cluster.close();
  await closed;
  t.pass();
});
