import test from "ava";
import { ClusterManager } from "../proxy/upstream/cluster-manager.js";
import { get, httpServer, lbEndpoint, clusterJson, newStats, parse } from "./upstream-fixtures.js";

test("/clusters text is Envoy's, line for line", async (t) => {
  const { port } = await httpServer(t, (_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  const manager = new ClusterManager(
    [
      parse(
        clusterJson("web", [lbEndpoint("127.0.0.1", port, { load_balancing_weight: 2 })], {
          circuit_breakers: { thresholds: [{ max_connections: 7 }] },
        }),
      ),
    ],
    newStats(),
  );
  t.teardown(() => manager.close());
  await manager.initialize();
  const host = manager.get("web")!.chooseHost()!;
  t.is((await get(host)).status, 503);
  const h = `web::127.0.0.1:${port}::`;
  t.is(
    manager.adminText(),
    [
      "web::observability_name::web",
      "web::default_priority::max_connections::7",
      "web::default_priority::max_pending_requests::1024",
      "web::default_priority::max_requests::1024",
      "web::default_priority::max_retries::3",
      "web::high_priority::max_connections::1024",
      "web::high_priority::max_pending_requests::1024",
      "web::high_priority::max_requests::1024",
      "web::high_priority::max_retries::3",
      "web::added_via_api::false",
      `${h}cx_active::1`,
      `${h}cx_connect_fail::0`,
      `${h}cx_total::1`,
      `${h}rq_active::0`,
      `${h}rq_error::1`,
      `${h}rq_success::0`,
      `${h}rq_timeout::0`,
      `${h}rq_total::1`,
      `${h}hostname::`,
      `${h}health_flags::healthy`,
      `${h}weight::2`,
      `${h}region::`,
      `${h}zone::`,
      `${h}sub_zone::`,
      `${h}canary::false`,
      `${h}priority::0`,
      `${h}success_rate::-1`,
      `${h}local_origin_success_rate::-1`,
      "",
    ].join("\n"),
  );
});

test("/clusters?format=json follows admin.v3.Clusters in proto3 JSON", async (t) => {
  const manager = new ClusterManager(
    [parse(clusterJson("api", [lbEndpoint("10.0.0.1", 80, { health_status: "UNHEALTHY" })], {}))],
    newStats(),
  );
  t.teardown(() => manager.close());
  const json = manager.adminJson() as { cluster_statuses: { name: string; host_statuses: Record<string, unknown>[]; circuit_breakers: { thresholds: object[] } }[] };
  const c = json.cluster_statuses[0];
  t.is(c.name, "api");
  t.deepEqual(c.circuit_breakers.thresholds[1], { priority: "HIGH", max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 });
  t.deepEqual(c.host_statuses[0].address, { socket_address: { address: "10.0.0.1", port_value: 80 } });
  t.deepEqual(c.host_statuses[0].health_status, { eds_health_status: "UNHEALTHY" });
  t.deepEqual((c.host_statuses[0].stats as object[]).slice(6), [{ name: "cx_active", type: "GAUGE" }, { name: "rq_active", type: "GAUGE" }]);
});
