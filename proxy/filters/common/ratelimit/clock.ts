// The time source of every token bucket. Buckets only ever compare instants, so any monotonic clock in
// milliseconds works; tests inject a FakeClock and move it by hand (no sleeps, no timing assertions).
//
// Limiters read the clock when they decide, never on a timer: refill is computed lazily on access, as Envoy
// does since the timer-based refill was removed (docs/rate-limits.md, "Token buckets").

export interface Clock {
  /** Monotonic milliseconds, >= 0 (fractions allowed). */
  nowMs(): number;
}

/** performance.now(): monotonic, starts near 0 when the process starts, unaffected by wall-clock changes. */
export const monotonicClock: Clock = Object.freeze({ nowMs: (): number => performance.now() });

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  constructor(private t = 0) {}

  nowMs(): number {
    return this.t;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a monotonic clock cannot go back (advance by ${ms})`);
    this.t += ms;
  }

  set(ms: number): void {
    if (!(ms >= this.t)) throw new RangeError(`a monotonic clock cannot go back (${this.t} -> ${ms})`);
    this.t = ms;
  }
}

let defaultClock: Clock = monotonicClock;

/** The clock limiters built from now on use (captured at build time, not read per request). */
export function rateLimitClock(): Clock {
  return defaultClock;
}

/**
 * Test hook: limiters built after this call (e.g. by a TollgateServer started afterwards) use `clock`.
 * Returns a function restoring the previous clock.
 */
export function useRateLimitClock(clock: Clock): () => void {
  const previous = defaultClock;
  defaultClock = clock;
  return () => {
    defaultClock = previous;
  };
}
