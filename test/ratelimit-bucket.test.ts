// Token-bucket timing, with a fake clock (no sleeps): Envoy's continuous, lazily computed refill, in the
// JavaScript bucket and in the WebAssembly per-client table, which must agree step for step.
import test from "ava";
import fc from "fast-check";
import { BucketTable, LIMITED } from "../wasm/buckets.js";
import { FakeClock } from "../proxy/filters/common/ratelimit/clock.js";
import { resetSeconds, TokenBucket, type TokenBucketSpec } from "../proxy/filters/common/ratelimit/token-bucket.js";

const spec = (maxTokens: number, tokensPerFill: number, fillIntervalMs: number): TokenBucketSpec => ({ maxTokens, tokensPerFill, fillIntervalMs });
const KEY = [0, 0, 0xffff, 0xc0000201] as const; // 192.0.2.1

test("a bucket starts full and gives max_tokens tokens at once, then limits", (t) => {
  const b = new TokenBucket(spec(3, 1, 1000));
  t.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [2, 1, 0, LIMITED]);
  t.is(b.remaining(0), 0);
});

test("refill is continuous: tokens_per_fill 10 per 1s gives a token back every 100 ms, not 10 at the second", (t) => {
  const clock = new FakeClock(5_000);
  const b = new TokenBucket(spec(10, 10, 1000));
  for (let i = 0; i < 10; i++) t.not(b.take(clock.nowMs()), LIMITED);
  t.is(b.take(clock.nowMs()), LIMITED);
  clock.advance(99);
  t.is(b.take(clock.nowMs()), LIMITED, "99 ms refill 0.99 of a token");
  clock.advance(1);
  t.is(b.take(clock.nowMs()), 0, "exactly 100 ms: one whole token");
  t.is(b.take(clock.nowMs()), LIMITED);
  clock.advance(250);
  t.is(b.remaining(clock.nowMs()), 2, "250 ms: two whole tokens (2.5, floored)");
  clock.advance(10_000);
  t.is(b.remaining(clock.nowMs()), 10, "never above max_tokens");
  t.true(b.isFull(clock.nowMs()));
});

test("a long fill interval: one token per fill_interval, no token early", (t) => {
  const clock = new FakeClock();
  const b = new TokenBucket(spec(1, 1, 60_000));
  t.is(b.take(clock.nowMs()), 0);
  clock.advance(59_999);
  t.is(b.take(clock.nowMs()), LIMITED);
  clock.advance(1);
  t.is(b.take(clock.nowMs()), 0);
});

test("max_tokens 0 limits every request (Envoy 1.39's always-reject bucket)", (t) => {
  const b = new TokenBucket(spec(0, 1, 1000));
  t.is(b.take(0), LIMITED);
  t.is(b.take(1e9), LIMITED);
});

test("x-ratelimit-reset follows Envoy: 0 while a token is left, else one token's refill time in whole seconds", (t) => {
  t.is(resetSeconds(spec(1, 1, 1_000_000), 0), 1000); // Envoy's filter test: fill_interval 1000s -> "1000"
  t.is(resetSeconds(spec(1, 1, 1_000_000), 1), 0);
  t.is(resetSeconds(spec(10, 10, 1000), 0), 0, "100 ms per token: 0 whole seconds");
  t.is(resetSeconds(spec(5, 1, 60_000), 0), 60);
  t.is(resetSeconds(spec(5, 3, 10_000), 0), 3, "3334 ms -> 3 s");
});

test("the WebAssembly table follows the same timeline as the JavaScript bucket", (t) => {
  const clock = new FakeClock(1_000);
  const s = spec(10, 10, 1000);
  const table = new BucketTable(s, 64);
  const b = new TokenBucket(s);
  const take = (): [number, number] => [table.take(KEY[0], KEY[1], KEY[2], KEY[3], clock.nowMs()), b.take(clock.nowMs())];
  for (let i = 0; i < 12; i++) {
    const [w, j] = take();
    t.is(w, j);
  }
  clock.advance(100);
  t.deepEqual(take(), [0, 0]);
  t.deepEqual(take(), [LIMITED, LIMITED]);
  t.is(table.peek(KEY[0], KEY[1], KEY[2], KEY[3], clock.nowMs()), 0);
  clock.advance(1_000);
  t.is(table.peek(KEY[0], KEY[1], KEY[2], KEY[3], clock.nowMs()), 10);
  t.is(table.liveClients(clock.nowMs()), 0, "a refilled bucket holds no state: its cell is free again");
});

test("property: for any shape and any schedule, WebAssembly and JavaScript buckets decide alike", (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 50, max: 5_000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 1, max: 4 })), { maxLength: 60 }),
      (max, perFill, interval, steps) => {
        const s = spec(max, perFill, interval);
        const table = new BucketTable(s, 8);
        const b = new TokenBucket(s);
        let now = 0;
        for (const [dt, takes] of steps) {
          now += dt;
          for (let i = 0; i < takes; i++) {
            if (table.take(1, 2, 3, 4, now) !== b.take(now)) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});
