import test from "ava";
import { once } from "node:events";
import type http from "node:http";
import { clusterAdminText } from "../proxy/upstream/admin.js";
import { createPicker } from "../proxy/upstream/load-balancer.js";
import { counter, get, httpServer, lbEndpoint, clusterJson, makeCluster, noSignal, seededRandom } from "./upstream-fixtures.js";

/** n servers that answer with their index, and a count of requests each received. */
async function servers(t: import("ava").ExecutionContext, n: number): Promise<{ ports: number[]; hits: number[] }> {
  const hits = new Array<number>(n).fill(0);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const { port } = await httpServer(t, (_req, res) => {
      hits[i]++;
      res.end(String(i));
    });
    ports.push(port);
  }
  return { ports, hits };
}

test("STATIC + ROUND_ROBIN spreads requests evenly over real upstreams", async (t) => {
  const { ports, hits } = await servers(t, 3);
  const { cluster, stats } = await makeCluster(t, clusterJson("rr", ports.map((p) => lbEndpoint("127.0.0.1", p))));
  for (let i = 0; i < 30; i++) {
    const r = await get(cluster.chooseHost()!);
    t.is(r.status, 200);
  }
  t.deepEqual(hits, [10, 10, 10]);
  t.is(counter(stats, "cluster.rr.upstream_rq_total"), 30);
  t.is(counter(stats, "cluster.rr.upstream_rq_200"), 30);
  t.is(counter(stats, "cluster.rr.upstream_rq_2xx"), 30);
  t.is(counter(stats, "cluster.rr.upstream_rq_completed"), 30);
  // Keep-alive: one connection per host served all of its requests.
  t.is(counter(stats, "cluster.rr.upstream_cx_total"), 3);
});

test("weighted ROUND_ROBIN picks hosts in proportion to load_balancing_weight", async (t) => {
  const { cluster } = await makeCluster(
    t,
    clusterJson("w", [
      lbEndpoint("10.0.0.1", 80, { load_balancing_weight: 1 }),
      lbEndpoint("10.0.0.2", 80, { load_balancing_weight: 3 }),
    ]),
  );
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const h = cluster.chooseHost()!;
    counts.set(h.address, (counts.get(h.address) ?? 0) + 1);
  }
  t.is(counts.get("10.0.0.1"), 100);
  t.is(counts.get("10.0.0.2"), 300);
});

test("RANDOM spreads requests over all hosts", async (t) => {
  const { ports, hits } = await servers(t, 3);
  const { cluster } = await makeCluster(t, clusterJson("rnd", ports.map((p) => lbEndpoint("127.0.0.1", p)), { lb_policy: "RANDOM" }), {
    random: seededRandom(7),
  });
  for (let i = 0; i < 300; i++) await get(cluster.chooseHost()!);
  for (const h of hits) {
    t.true(h > 70 && h < 130, `uneven: ${hits.join(",")}`);
  }
});

test("LEAST_REQUEST sends traffic to every host when all are idle", async (t) => {
  const { ports, hits } = await servers(t, 3);
  const { cluster } = await makeCluster(t, clusterJson("lr", ports.map((p) => lbEndpoint("127.0.0.1", p)), { lb_policy: "LEAST_REQUEST" }), {
    random: seededRandom(11),
  });
  for (let i = 0; i < 90; i++) await get(cluster.chooseHost()!);
  t.is(hits.reduce((a, b) => a + b, 0), 90);
  for (const h of hits) t.true(h > 10, `a host was starved: ${hits.join(",")}`);
});

test("LEAST_REQUEST prefers the idle host over one with a request in flight", async (t) => {
  let release: (() => void) | null = null;
  const busy = await httpServer(t, (_req, res) => {
    release = () => res.end("slow");
  });
  const idle = await httpServer(t, (_req, res) => res.end("fast"));
  const { cluster } = await makeCluster(
    t,
    clusterJson("lr2", [lbEndpoint("127.0.0.1", busy.port), lbEndpoint("127.0.0.1", idle.port)], { lb_policy: "LEAST_REQUEST" }),
    { random: seededRandom(3) },
  );
  const [busyHost, idleHost] = cluster.hosts;
  const inflight = busyHost.request({ method: "GET", path: "/", headers: [], body: null, timeoutMs: 5000, signal: noSignal() });
  await once(busy.server, "request");
  t.is(busyHost.rqActive, 1);
  t.is(idleHost.rqActive, 0);
  let toIdle = 0;
  for (let i = 0; i < 400; i++) if (cluster.chooseHost() === idleHost) toIdle++;
  // Two random choices: the busy host wins only when both samples are the busy host (1 in 4).
  t.true(toIdle > 260, `idle host chosen ${toIdle}/400`);
  release!();
  const res = await inflight;
  res.body.resume();
  await once(res.body, "end");
  t.is(busyHost.rqActive, 0);
});

test("the LEAST_REQUEST picker with unequal weights favours weight over load as Envoy's EDF does", (t) => {
  const a = { weight: 1, rqActive: 0 };
  const b = { weight: 4, rqActive: 0 };
  const picker = createPicker("LEAST_REQUEST", [a, b], { random: seededRandom(1), cursor: { i: 0 }, choiceCount: 2 });
  let toB = 0;
  for (let i = 0; i < 500; i++) if (picker.pick() === b) toB++;
  t.is(toB, 400);
  b.rqActive = 3; // b's effective weight drops to 4 / (3 + 1) = 1: now an even split
  let toB2 = 0;
  for (let i = 0; i < 500; i++) if (picker.pick() === b) toB2++;
  t.true(toB2 > 230 && toB2 < 270, `${toB2}`);
});

test("only healthy hosts take traffic while at least half of the hosts are healthy", async (t) => {
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("h", [
      lbEndpoint("10.0.0.1", 80),
      lbEndpoint("10.0.0.2", 80),
      lbEndpoint("10.0.0.3", 80, { health_status: "UNHEALTHY" }),
      lbEndpoint("10.0.0.4", 80, { health_status: "DRAINING" }),
    ]),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(cluster.chooseHost()!.address);
  t.deepEqual([...seen].sort(), ["10.0.0.1", "10.0.0.2"]);
  t.is(counter(stats, "cluster.h.lb_healthy_panic"), 0);
  t.is(stats.gauge("cluster.h.membership_healthy").value(), 2);
  t.is(stats.gauge("cluster.h.membership_total").value(), 4);
  t.regex(clusterAdminText([cluster]), /^h::10\.0\.0\.3:80::health_flags::\/failed_eds_health$/m);
});

test("panic: below 50% healthy, Envoy balances across all hosts", async (t) => {
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("p", [
      lbEndpoint("10.0.0.1", 80),
      lbEndpoint("10.0.0.2", 80, { health_status: "UNHEALTHY" }),
      lbEndpoint("10.0.0.3", 80, { health_status: "UNHEALTHY" }),
    ]),
  );
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) seen.add(cluster.chooseHost()!.address);
  t.is(seen.size, 3);
  t.is(counter(stats, "cluster.p.lb_healthy_panic"), 30);
});

test("with the panic threshold at 0 and no healthy host, there is no host (UH)", async (t) => {
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("z", [lbEndpoint("10.0.0.1", 80, { health_status: "UNHEALTHY" })], {
      common_lb_config: { healthy_panic_threshold: { value: 0 } },
    }),
  );
  t.is(cluster.chooseHost(), null);
  t.is(counter(stats, "cluster.z.upstream_cx_none_healthy"), 1);
});

test("a cluster without endpoints has no host", async (t) => {
  const { cluster, stats } = await makeCluster(t, { name: "empty", load_assignment: { cluster_name: "empty", endpoints: [] } });
  t.is(cluster.chooseHost(), null);
  t.is(counter(stats, "cluster.empty.upstream_cx_none_healthy"), 1);
  t.is(stats.gauge("cluster.empty.membership_total").value(), 0);
});

test("degraded hosts take the load healthy hosts cannot (Envoy's 1.4 overprovisioning)", async (t) => {
  const { cluster } = await makeCluster(
    t,
    clusterJson("d", [lbEndpoint("10.0.0.1", 80), lbEndpoint("10.0.0.2", 80, { health_status: "DEGRADED" })]),
    { random: seededRandom(5) },
  );
  let degraded = 0;
  for (let i = 0; i < 1000; i++) if (cluster.chooseHost()!.address === "10.0.0.2") degraded++;
  // healthy: min(100, 1.4 × 50%) = 70% of the load, degraded: the remaining 30%.
  t.true(degraded > 250 && degraded < 350, `${degraded}`);
});

test("requests carry the router's headers and answers come back in order", async (t) => {
  let seen: http.IncomingMessage | null = null;
  const { port } = await httpServer(t, (req, res) => {
    seen = req;
    res.setHeader("set-cookie", ["a=1", "b=2"]);
    res.setHeader("X-Answer", "42");
    res.end("ok");
  });
  const { cluster } = await makeCluster(t, clusterJson("hdr", [lbEndpoint("127.0.0.1", port)]));
  const r = await get(cluster.chooseHost()!, "/p?q=1", {
    headers: [["host", "example.com"], ["x-forwarded-for", "203.0.113.7"], ["x-multi", "1"], ["x-multi", "2"], ["connection", "keep-alive"]],
  });
  t.is(r.body, "ok");
  t.is(seen!.url, "/p?q=1");
  t.is(seen!.headers.host, "example.com");
  t.is(seen!.headers["x-forwarded-for"], "203.0.113.7");
  t.is(seen!.headers["x-multi"], "1, 2");
  t.deepEqual(
    r.headers.filter(([k]) => k === "set-cookie" || k === "x-answer"),
    [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-answer", "42"]],
  );
});
