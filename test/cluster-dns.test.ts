import test from "ava";
import { once } from "node:events";
import { DnsResolutionError, selectFamily, type DnsAnswer, type DnsResolver } from "../proxy/upstream/dns.js";
import { clusterJson, counter, get, httpServer, lbEndpoint, makeCluster, until } from "./upstream-fixtures.js";

test("STRICT_DNS resolves localhost through the system resolver and serves requests", async (t) => {
  const { port } = await httpServer(t, (_req, res) => res.end("via dns"));
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("dns", [lbEndpoint("localhost", port)], { type: "STRICT_DNS", dns_lookup_family: "V4_ONLY" }),
  );
  t.deepEqual(
    cluster.hosts.map((h) => h.address),
    ["127.0.0.1"],
  );
  t.is(cluster.hosts[0].hostname, "localhost");
  t.is(counter(stats, "cluster.dns.update_success"), 1);
  t.is(stats.gauge("cluster.dns.membership_total").value(), 1);
  t.is((await get(cluster.chooseHost()!)).body, "via dns");
});

test("STRICT_DNS with dns_lookup_family ALL keeps every address of the name", async (t) => {
  const { cluster } = await makeCluster(t, clusterJson("all", [lbEndpoint("localhost", 80)], { type: "STRICT_DNS", dns_lookup_family: "ALL" }));
  const addresses = cluster.hosts.map((h) => h.address);
  t.true(addresses.includes("127.0.0.1") || addresses.includes("::1"), addresses.join(","));
  t.true(addresses.every((a) => a === "127.0.0.1" || a === "::1"), addresses.join(","));
});

/** A resolver driven by a script of answers (or failures), one per call; the last entry repeats. */
function scripted(steps: (string[] | Error | DnsAnswer)[]): { resolver: DnsResolver; calls: string[] } {
  const calls: string[] = [];
  let i = 0;
  const resolver: DnsResolver = async (hostname) => {
    calls.push(hostname);
    const step = steps[Math.min(i++, steps.length - 1)];
    if (step instanceof Error) throw new DnsResolutionError(hostname, step);
    return Array.isArray(step) ? { addresses: step } : step;
  };
  return { resolver, calls };
}

test("a failed refresh keeps the last good hosts and counts update_failure", async (t) => {
  const { resolver } = scripted([["10.0.0.1", "10.0.0.2"], new Error("SERVFAIL")]);
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("keep", [lbEndpoint("backend.svc", 8080)], { type: "STRICT_DNS", dns_refresh_rate: "0.01s" }),
    { resolver },
  );
  const before = cluster.hosts;
  t.deepEqual(before.map((h) => h.addressString), ["10.0.0.1:8080", "10.0.0.2:8080"]);
  await until(cluster, "dns", () => counter(stats, "cluster.keep.update_failure") >= 2);
  t.is(cluster.hosts, before);
  t.is(stats.gauge("cluster.keep.membership_total").value(), 2);
  t.truthy(cluster.chooseHost());
});

test("a refresh that changes the answer replaces removed hosts, keeps the others, and adds new ones", async (t) => {
  const { resolver } = scripted([["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"]]);
  const { cluster, stats } = await makeCluster(
    t,
    clusterJson("chg", [lbEndpoint("backend.svc", 80)], { type: "STRICT_DNS", dns_refresh_rate: "0.01s" }),
    { resolver },
  );
  const kept = cluster.hosts[1];
  await once(cluster, "hosts");
  t.deepEqual(cluster.hosts.map((h) => h.address), ["10.0.0.2", "10.0.0.3"]);
  t.is(cluster.hosts[0], kept, "the surviving host keeps its object (pool, health, stats)");
  t.true(counter(stats, "cluster.chg.membership_change") >= 1);
});

test("STRICT_DNS merges the answers of several endpoints", async (t) => {
  const resolver: DnsResolver = async (name) => ({ addresses: name === "a.svc" ? ["10.0.0.1"] : ["10.0.0.9", "10.0.0.1"] });
  const { cluster } = await makeCluster(
    t,
    clusterJson("multi", [lbEndpoint("a.svc", 80), lbEndpoint("b.svc", 81)], { type: "STRICT_DNS" }),
    { resolver },
  );
  t.deepEqual(cluster.hosts.map((h) => h.addressString), ["10.0.0.1:80", "10.0.0.9:81", "10.0.0.1:81"]);
});

test("LOGICAL_DNS uses only the first address of the answer", async (t) => {
  const { resolver } = scripted([["10.0.0.5", "10.0.0.6", "10.0.0.7"]]);
  const { cluster } = await makeCluster(t, clusterJson("logical", [lbEndpoint("api.example", 443)], { type: "LOGICAL_DNS" }), { resolver });
  t.deepEqual(cluster.hosts.map((h) => h.address), ["10.0.0.5"]);
});

test("respect_dns_ttl refreshes at the record TTL instead of dns_refresh_rate", async (t) => {
  const { resolver, calls } = scripted([{ addresses: ["10.0.0.1"], ttlSeconds: 0.001 }]);
  const { cluster } = await makeCluster(
    t,
    clusterJson("ttl", [lbEndpoint("svc", 80)], { type: "STRICT_DNS", respect_dns_ttl: true, dns_refresh_rate: "3600s" }),
    { resolver },
  );
  // With the hour-long refresh rate this could only happen through the TTL.
  await until(cluster, "dns", () => calls.length >= 3);
  t.pass();
});

test("a cluster whose first resolution fails starts empty and answers no host", async (t) => {
  const { resolver } = scripted([new Error("NXDOMAIN")]);
  const { cluster, stats } = await makeCluster(t, clusterJson("nx", [lbEndpoint("nowhere.invalid", 80)], { type: "STRICT_DNS" }), { resolver });
  t.is(cluster.hosts.length, 0);
  t.is(cluster.chooseHost(), null);
  t.is(counter(stats, "cluster.nx.update_failure"), 1);
});

test("dns_lookup_family selects addresses as Envoy does", (t) => {
  const mixed = ["10.0.0.1", "2001:db8::1", "10.0.0.2"];
  t.deepEqual(selectFamily(mixed, "V4_ONLY"), ["10.0.0.1", "10.0.0.2"]);
  t.deepEqual(selectFamily(mixed, "V6_ONLY"), ["2001:db8::1"]);
  t.deepEqual(selectFamily(mixed, "AUTO"), ["2001:db8::1"]);
  t.deepEqual(selectFamily(["10.0.0.1"], "AUTO"), ["10.0.0.1"]);
  t.deepEqual(selectFamily(mixed, "V4_PREFERRED"), ["10.0.0.1", "10.0.0.2"]);
  t.deepEqual(selectFamily(["2001:db8::1"], "V4_PREFERRED"), ["2001:db8::1"]);
  t.deepEqual(selectFamily(mixed, "ALL"), ["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
});
