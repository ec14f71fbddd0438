// The rate limiters' peek(), which the explain tool shows: it must say what the next take would decide, from which
// buckets, and take nothing. Checked against requestAllowed()/allow() on random schedules (fake clock) over every
// kind of bucket: the default one, a static descriptor, per-client tables (IPv4 and IPv6 /64 groups), a dynamic LRU.
import test from "ava";
import fc from "fast-check";
import { FakeClock } from "../proxy/filters/common/ratelimit/clock.js";
import { descriptorKey, type LocalDescriptorConfig, type RequestDescriptor } from "../proxy/filters/common/ratelimit/descriptors.js";
import { LocalRateLimiter, type LimiterConfig } from "../proxy/filters/common/ratelimit/limiter.js";
import { ClientKeyer } from "../proxy/filters/common/ratelimit/client-key.js";
import type { NetworkLocalRateLimitConfig } from "../proxy/filters/network/local-ratelimit/config.js";
import { ConnectionLimiter } from "../proxy/filters/network/local-ratelimit/limiter.js";

function desc(entries: Array<[string, string]>, maxTokens: number, tokensPerFill: number, fillIntervalMs: number): LocalDescriptorConfig {
  const e = entries.map(([key, value]) => ({ key, value }));
  const wild = e.map((x, i) => (x.value === "" ? i : -1)).filter((i) => i >= 0);
  const perClient = wild.length === 1 && e[wild[0]!]!.key === "remote_address";
  return {
    entries: e,
    tokenBucket: { maxTokens, tokensPerFill, fillIntervalMs },
    kind: wild.length === 0 ? "static" : perClient ? "per_client" : "dynamic",
    clientEntry: perClient ? wild[0]! : -1,
    text: descriptorKey(e),
  };
}

const DESCRIPTORS = [
  desc([["remote_address", ""]], 3, 1, 1000),
  desc([["path", "/login"]], 2, 1, 500),
  desc([["user", ""]], 4, 2, 1000),
  desc([["zero", "x"]], 0, 1, 1000),
];
const CLIENTS = ["203.0.113.7", "203.0.113.8", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"];
// A request has one client address, so its remote_address descriptors all carry the same one.
const client = (ip: string): RequestDescriptor => [{ key: "remote_address", value: ip }];
const POOL: RequestDescriptor[] = [
  [{ key: "path", value: "/login" }],
  [{ key: "user", value: "ann" }],
  [{ key: "user", value: "bob" }],
  [{ key: "zero", value: "x" }],
  [{ key: "nothing", value: "matches" }],
];

function limiter(clock: FakeClock, alwaysConsumeDefault: boolean, clientTables: boolean, withDefault: boolean): LocalRateLimiter {
  const config: LimiterConfig = {
    defaultBucket: withDefault ? { maxTokens: 4, tokensPerFill: 1, fillIntervalMs: 1000 } : null,
    descriptors: DESCRIPTORS,
    alwaysConsumeDefault,
    maxDynamicDescriptors: 2,
    maxClients: 64,
    prefixes: { ipv4: 32, ipv6: 64 },
  };
  return new LocalRateLimiter(config, { clock, clientTables });
}

test("peek() predicts requestAllowed() and takes nothing, on random schedules", (t) => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      fc.array(
        fc.record({
          advance: fc.integer({ min: 0, max: 400 }),
          client: fc.nat(CLIENTS.length - 1),
          // Where the client descriptor goes among the others (past the end: none), and how often.
          at: fc.nat(4),
          times: fc.integer({ min: 1, max: 2 }),
          picks: fc.array(fc.nat(POOL.length - 1), { maxLength: 3 }),
        }),
        { maxLength: 60 },
      ),
      (always, tables, withDefault, schedule) => {
        const clock = new FakeClock(1);
        const l = limiter(clock, always, tables, withDefault);
        for (const step of schedule) {
          clock.advance(step.advance);
          const ds = step.picks.map((i) => POOL[i]!);
          if (step.at <= ds.length) ds.splice(step.at, 0, ...new Array<RequestDescriptor>(step.times).fill(client(CLIENTS[step.client]!)));
          const p1 = l.peek(ds);
          const p2 = l.peek(ds);
          if (JSON.stringify(p1) !== JSON.stringify(p2)) return false; // peek changed something
          const d = l.requestAllowed(ds);
          if (p1.allowed !== d.allowed) return false;
          if (d.allowed && d.hasBucket && p1.buckets.length > 0 && d.remaining !== p1.buckets[0]!.tokens - 1) return false;
          if (!d.allowed && p1.buckets[p1.buckets.length - 1]!.takes) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test("peek() names the per-client group, the descriptor and the order tokens are taken (slowest fill rate first)", (t) => {
  const clock = new FakeClock(1);
  const l = limiter(clock, true, true, true);
  const p = l.peek([[{ key: "remote_address", value: "2001:db8:1:2:aaaa::5" }], [{ key: "path", value: "/login" }], [{ key: "nothing", value: "x" }]]);
  t.true(p.allowed);
  t.deepEqual(
    p.buckets.map((b) => [b.kind, b.descriptorIndex, b.key, b.tokens]),
    [
      ["per_client", 0, "2001:db8:1:2::/64", 3], // 1 token/s
      ["static", 1, null, 2], // 2 tokens/s
      ["default", null, null, 4],
    ],
  );
  t.deepEqual(p.unmatched, ["nothing=x"]);
  // The same descriptor twice draws twice from one bucket: the second sees one token fewer.
  const twice = l.peek([[{ key: "path", value: "/login" }], [{ key: "path", value: "/login" }], [{ key: "path", value: "/login" }]]);
  t.deepEqual(twice.buckets.map((b) => [b.tokens, b.takes]), [[2, true], [1, true], [0, false]]);
  t.false(twice.allowed);
});

test("ClientKeyer.keyAddress writes the masked group", (t) => {
  const k = new ClientKeyer({ ipv4: 24, ipv6: 48 });
  t.true(k.keyOf("198.51.100.77"));
  t.is(ClientKeyer.keyAddress(k.words, k.prefixes), "198.51.100.0/24");
  t.true(k.keyOf("2001:db8:abcd:12::1"));
  t.is(ClientKeyer.keyAddress(k.words, k.prefixes), "2001:db8:abcd::/48");
  t.true(k.keyOf("::ffff:192.0.2.9"));
  t.is(ClientKeyer.keyAddress(k.words, k.prefixes), "192.0.2.0/24");
});

test("the connection limiter's peek() predicts allow() and takes nothing", (t) => {
  const config = {
    tokenBucket: { maxTokens: 4, tokensPerFill: 1, fillIntervalMs: 1000 },
    clientTokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 2000 },
    maxClients: 64,
    prefixes: { ipv4: 32, ipv6: 64 },
  } as unknown as NetworkLocalRateLimitConfig;
  const traps = { inc: () => undefined };
  fc.assert(
    fc.property(fc.array(fc.record({ advance: fc.integer({ min: 0, max: 900 }), client: fc.nat(CLIENTS.length - 1) }), { maxLength: 50 }), (schedule) => {
      const clock = new FakeClock(1);
      const l = new ConnectionLimiter(config, clock);
      for (const s of schedule) {
        clock.advance(s.advance);
        const ip = CLIENTS[s.client]!;
        const p = l.peek(ip);
        if (JSON.stringify(l.peek(ip)) !== JSON.stringify(p)) return false;
        if (l.allow(ip, traps) !== p.allowed) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  const l = new ConnectionLimiter(config, new FakeClock(1));
  t.deepEqual(l.peek("2001:db8:1:2::1"), { allowed: true, client: { key: "2001:db8:1:2::/64", tokens: 2 }, global: 4, limitedBy: null });
  l.allow("2001:db8:1:2::1", traps);
  l.allow("2001:db8:1:2::2", traps);
  t.deepEqual(l.peek("2001:db8:1:2::3"), { allowed: false, client: { key: "2001:db8:1:2::/64", tokens: 0 }, global: null, limitedBy: "client" });
});
