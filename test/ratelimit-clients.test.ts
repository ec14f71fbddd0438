// Per-client buckets in WebAssembly: fairness between clients, a bounded table whatever the number of
// clients, IPv6 prefix grouping, and surviving a trap (fail open). Fake clock throughout.
import test from "ava";
import { BucketTable, bucketTrapCount, LIMITED } from "../wasm/buckets.js";
import { ClientKeyer } from "../proxy/filters/common/ratelimit/client-key.js";
import { FakeClock } from "../proxy/filters/common/ratelimit/clock.js";
import type { LocalDescriptorConfig, RequestDescriptor } from "../proxy/filters/common/ratelimit/descriptors.js";
import { LocalRateLimiter, type LimiterConfig } from "../proxy/filters/common/ratelimit/limiter.js";

const perClient: LocalDescriptorConfig = {
  entries: [{ key: "remote_address", value: "" }],
  tokenBucket: { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 1000 },
  kind: "per_client",
  clientEntry: 0,
  text: "remote_address\0\0",
};

function limiter(clock: FakeClock, o: Partial<LimiterConfig> = {}, clientTables = true): LocalRateLimiter {
  const config: LimiterConfig = {
    defaultBucket: null,
    descriptors: [perClient],
    alwaysConsumeDefault: true,
    maxDynamicDescriptors: 20,
    maxClients: 1000,
    prefixes: { ipv4: 32, ipv6: 64 },
    ...o,
  };
  return new LocalRateLimiter(config, { clock, clientTables });
}

const from = (ip: string): RequestDescriptor[] => [[{ key: "remote_address", value: ip }]];

test("a noisy client is limited while a quiet one is not affected", (t) => {
  const clock = new FakeClock(10);
  const l = limiter(clock);
  let noisyAllowed = 0;
  for (let i = 0; i < 1000; i++) if (l.requestAllowed(from("198.51.100.7")).allowed) noisyAllowed++;
  t.is(noisyAllowed, 5, "the noisy client gets its burst and nothing more");
  for (let i = 0; i < 5; i++) t.true(l.requestAllowed(from("203.0.113.9")).allowed, `quiet request ${i}`);
  const d = l.requestAllowed(from("203.0.113.9"));
  t.false(d.allowed, "the quiet client has its own burst of 5, no more");
  // A second later each has one token back: still independent.
  clock.advance(1000);
  t.true(l.requestAllowed(from("198.51.100.7")).allowed);
  t.false(l.requestAllowed(from("198.51.100.7")).allowed);
  t.true(l.requestAllowed(from("203.0.113.9")).allowed);
});

test("the default bucket is shared by everyone, so a per-client limit is what keeps the noisy client from starving the rest", (t) => {
  const clock = new FakeClock(10);
  const l = limiter(clock, { defaultBucket: { maxTokens: 100, tokensPerFill: 100, fillIntervalMs: 1000 } });
  // The noisy client is limited by its own bucket first, so it spends none of the shared tokens past its 5.
  for (let i = 0; i < 10_000; i++) l.requestAllowed(from("198.51.100.7"));
  let quiet = 0;
  for (let c = 0; c < 19; c++) for (let i = 0; i < 5; i++) if (l.requestAllowed(from(`203.0.113.${c + 1}`)).allowed) quiet++;
  t.is(quiet, 95, "19 quiet clients x 5 requests all pass: 5 + 95 = the shared 100");
  t.false(l.requestAllowed(from("203.0.113.200")).allowed, "the shared bucket is now empty");
});

test("2,000,000 distinct clients through a 4,096-client table: the table stays bounded and limited clients stay limited", (t) => {
  const clock = new FakeClock(1);
  const table = new BucketTable({ maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 60_000 }, 4096);
  t.is(table.capacity, 4096);
  // Ten noisy clients drain their buckets.
  const noisy = Array.from({ length: 10 }, (_, i) => 0x0a000000 + i * 7919);
  for (const ip of noisy) for (let i = 0; i < 5; i++) t.not(table.take(0, 0, 0xffff, ip, clock.nowMs()), LIMITED);
  // Two million one-request clients arrive (an address sweep), while the noisy ones keep trying.
  let churnAllowed = 0;
  for (let i = 0; i < 2_000_000; i++) {
    if (table.take(0, 0, 0xffff, 0x64000000 + i, clock.nowMs()) !== LIMITED) churnAllowed++;
    if (i % 100_000 === 0) for (const ip of noisy) t.is(table.take(0, 0, 0xffff, ip, clock.nowMs()), LIMITED);
  }
  t.is(churnAllowed, 2_000_000, "every new client gets its first request");
  t.true(table.liveClients(clock.nowMs()) <= table.capacity, "never more live buckets than cells");
  t.true(table.evictions() >= 2_000_000 - table.capacity, "room was made by evicting the buckets closest to full");
  // Drained buckets are evicted last: the noisy clients are still limited after the sweep.
  for (const ip of noisy) t.is(table.take(0, 0, 0xffff, ip, clock.nowMs()), LIMITED);
  // A minute later every bucket has refilled and the table is empty again without any sweep.
  clock.advance(6 * 60_000);
  t.is(table.liveClients(clock.nowMs()), 0);
});

test("IPv6 clients are grouped by ipv6_prefix_len: one /64 is one client", (t) => {
  const clock = new FakeClock(10);
  const l = limiter(clock);
  let allowed = 0;
  // An attacker rotating through addresses of its /64 shares one bucket.
  for (let i = 1; i <= 50; i++) if (l.requestAllowed(from(`2001:db8:1:2::${i.toString(16)}`)).allowed) allowed++;
  t.is(allowed, 5);
  // Another /64 is another client.
  t.true(l.requestAllowed(from("2001:db8:1:3::1")).allowed);
  // With /128, each address is its own client (Envoy's per-address behaviour).
  const exact = limiter(clock, { prefixes: { ipv4: 32, ipv6: 128 } });
  let exactAllowed = 0;
  for (let i = 1; i <= 50; i++) if (exact.requestAllowed(from(`2001:db8:1:2::${i.toString(16)}`)).allowed) exactAllowed++;
  t.is(exactAllowed, 50);
});

test("client keys: IPv4 in mapped form, masked prefixes, bad text refused", (t) => {
  const k = new ClientKeyer({ ipv4: 24, ipv6: 48 });
  t.true(k.keyOf("192.0.2.77"));
  t.deepEqual([...k.words], [0, 0, 0xffff, 0xc0000200]);
  t.true(k.keyOf("::ffff:192.0.2.1"), "an IPv4-mapped text is the IPv4 client");
  t.deepEqual([...k.words], [0, 0, 0xffff, 0xc0000200]);
  t.true(k.keyOf("2001:db8:aaaa:bbbb::1"));
  t.deepEqual([...k.words], [0x20010db8, 0xaaaa0000, 0, 0]);
  t.false(k.keyOf("192.0.2.300"));
  t.false(k.keyOf("01.2.3.4"));
  t.false(k.keyOf("not an address"));
});

test("a trap in the table: the request is allowed, the trap counted, the table restarts empty", (t) => {
  const clock = new FakeClock(10);
  let traps = 0;
  const config: LimiterConfig = {
    defaultBucket: null,
    descriptors: [perClient],
    alwaysConsumeDefault: true,
    maxDynamicDescriptors: 20,
    maxClients: 64,
    prefixes: { ipv4: 32, ipv6: 64 },
  };
  const l = new LocalRateLimiter(config, { clock, clientTables: true, traps: { inc: () => traps++ } });
  for (let i = 0; i < 5; i++) l.requestAllowed(from("198.51.100.7"));
  t.false(l.requestAllowed(from("198.51.100.7")).allowed);
  const before = bucketTrapCount();
  const [table] = l.clientTables();
  table!.trapOnNextTake();
  t.true(l.requestAllowed(from("198.51.100.7")).allowed, "fail open");
  t.is(traps, 1);
  t.is(table!.traps, 1);
  t.is(bucketTrapCount(), before + 1);
  // The new instance works and starts empty: the client has a full bucket again (documented).
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (l.requestAllowed(from("198.51.100.7")).allowed) allowed++;
  t.is(allowed, 5);
});

test("per-connection limiters keep per-client descriptors in a small LRU (max_dynamic_descriptors), like Envoy", (t) => {
  const clock = new FakeClock(10);
  const l = limiter(clock, { maxDynamicDescriptors: 2 }, false);
  t.deepEqual(l.clientTables(), []);
  for (let i = 0; i < 5; i++) t.true(l.requestAllowed(from("192.0.2.1")).allowed);
  t.false(l.requestAllowed(from("192.0.2.1")).allowed);
  l.requestAllowed(from("192.0.2.2"));
  l.requestAllowed(from("192.0.2.3"));
  // 192.0.2.1 was the least recently used of three: dropped, and back with a full bucket (Envoy's LRU).
  t.true(l.requestAllowed(from("192.0.2.1")).allowed);
});

test("a request carrying two per-client descriptors takes from each client's own bucket", (t) => {
  // E.g. the remote_address action beside a request_headers action whose descriptor_key is remote_address.
  const clock = new FakeClock(10);
  const l = limiter(clock, { descriptors: [{ ...perClient, tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 } }] });
  const both: RequestDescriptor[] = [[{ key: "remote_address", value: "198.51.100.7" }], [{ key: "remote_address", value: "203.0.113.9" }]];
  t.true(l.requestAllowed(both).allowed, "one token from each of the two clients");
  t.false(l.requestAllowed(from("198.51.100.7")).allowed, "the first client's bucket was drawn");
  t.false(l.requestAllowed(from("203.0.113.9")).allowed, "the second client's bucket was drawn");
});
