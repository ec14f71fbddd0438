// Host binding of the per-client token-bucket tables (wasm/assembly/token-buckets.ts).
//
// Each table is its own WebAssembly.Instance of tollgate.wasm, with its own linear memory: the table is
// allocated once inside it (24 bytes per client cell) and never grows, and a table dropped with its
// configuration is freed with its instance by the garbage collector. Only this file knows that layout.
//
// Per decision the host work is one call: the client key goes in as four u32 arguments (the 16 address
// bytes, an IPv4 address in its IPv4-mapped form) plus the time, and the answer comes back as the call's
// f64 result (tokens remaining, or -1 when limited). Nothing is copied through memory, nothing is allocated,
// memory.buffer is never read.
//
// Traps: a trap (WebAssembly.RuntimeError, or a RangeError from stack exhaustion) means the instance can no
// longer be trusted. The call that trapped answers TRAPPED (the caller allows the request: a limiter fails
// open, it never takes the service down), the trap is counted, and a fresh instance with an empty table
// replaces the old one: every client of that table starts again with a full bucket.
import { readFileSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A token-bucket table could not be created. `code` is stable. */
export class BucketTableError extends Error {
  readonly code: "BAD_SHAPE" | "OUT_OF_MEMORY";
  constructor(code: "BAD_SHAPE" | "OUT_OF_MEMORY", message: string) {
    super(message);
    this.name = "BucketTableError";
    this.code = code;
  }
}

/** The bucket of every client in a table: Envoy's TokenBucket. */
export interface BucketShape {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** bucketsTake's answer when the instance trapped (the caller allows the request and counts the trap). */
export const TRAPPED = -2;
/** bucketsTake's answer when the client's bucket is empty. */
export const LIMITED = -1;
/** Clients per table are at most this (24 bytes each: 384 MiB). */
export const MAX_CLIENTS = 16_777_216;
const WAYS = 8;

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface BucketExports {
  bucketsInit(groups: number, max: number, perFill: number, intervalMs: number, seed: number): number;
  bucketsTake(k0: number, k1: number, k2: number, k3: number, nowMs: number): number;
  bucketsPeek(k0: number, k1: number, k2: number, k3: number, nowMs: number): number;
  bucketsLive(nowMs: number): number;
  bucketsEvictions(): number;
  debugTrap(): void;
}

function locateWasm(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // wasm/buckets.ts (tsx) -> wasm/build/; dist/wasm/buckets.js (compiled) -> ../../wasm/build/.
  const candidates = [join(here, "build", "tollgate.wasm"), join(here, "..", "..", "wasm", "build", "tollgate.wasm")];
  for (const file of candidates) if (existsSync(file)) return file;
  throw new Error(`tollgate.wasm not found (looked in ${candidates.join(", ")}); run \`npm run build:wasm\``);
}

// Compiled lazily, once, the first time a table is made (config time); instantiated once per table.
let wasmModule: object | null = null;
let trapTotal = 0;

/** Traps survived by all bucket tables of this process. */
export function bucketTrapCount(): number {
  return trapTotal;
}

/**
 * One table of per-client buckets, all of the same shape, holding at most `capacity` clients (the
 * requested count rounded up to a multiple of 8). Keys are four u32 words: see proxy/filters/common/
 * ratelimit/client-key.ts for how an address becomes one.
 */
export class BucketTable {
  readonly shape: BucketShape;
  readonly capacity: number;
  /** Traps of this table (each one replaced the instance and emptied the table). */
  traps = 0;
  private readonly groups: number;
  private ex!: BucketExports;
  // The hot entry point, held directly so a decision is one monomorphic call.
  private takeFn!: (k0: number, k1: number, k2: number, k3: number, nowMs: number) => number;
  private trapNext = false;

  constructor(shape: BucketShape, clients: number) {
    if (!Number.isInteger(clients) || clients < 1 || clients > MAX_CLIENTS) {
      throw new BucketTableError("BAD_SHAPE", `a bucket table holds 1 to ${MAX_CLIENTS} clients, not ${clients}`);
    }
    if (!(shape.maxTokens >= 0) || !(shape.tokensPerFill > 0) || !(shape.fillIntervalMs > 0)) {
      throw new BucketTableError("BAD_SHAPE", "a bucket needs max_tokens >= 0, tokens_per_fill > 0 and fill_interval > 0");
    }
    this.shape = Object.freeze({ ...shape });
    this.groups = Math.ceil(clients / WAYS);
    this.capacity = this.groups * WAYS;
    this.instantiate();
  }

  private instantiate(): void {
    wasmModule ??= new WebAssemblyApi.Module(readFileSync(locateWasm()));
    const ex = new WebAssemblyApi.Instance(wasmModule, {}).exports as BucketExports;
    const s = this.shape;
    const seed = randomBytes(4).readUInt32LE(0);
    let cells = 0;
    try {
      cells = ex.bucketsInit(this.groups, s.maxTokens, s.tokensPerFill, s.fillIntervalMs, seed);
    } catch {
      cells = 0;
    }
    if (cells !== this.capacity) {
      throw new BucketTableError("OUT_OF_MEMORY", `cannot allocate ${this.capacity * 24} bytes of WebAssembly memory for ${this.capacity} client buckets`);
    }
    this.ex = ex;
    this.takeFn = ex.bucketsTake;
  }

  private recover(): void {
    this.traps++;
    trapTotal++;
    this.instantiate();
  }

  /** Takes a token: tokens remaining (>= 0) when allowed, LIMITED (-1), or TRAPPED (-2; the table was reset). */
  take(k0: number, k1: number, k2: number, k3: number, nowMs: number): number {
    try {
      if (this.trapNext) {
        this.trapNext = false;
        this.ex.debugTrap();
      }
      return this.takeFn(k0, k1, k2, k3, nowMs);
    } catch {
      // Any throw out of the module means its state can no longer be trusted (see the file comment).
      this.recover();
      return TRAPPED;
    }
  }

  /** The client's whole tokens now, taking none (a fresh or refilled client has maxTokens). */
  peek(k0: number, k1: number, k2: number, k3: number, nowMs: number): number {
    try {
      return this.ex.bucketsPeek(k0, k1, k2, k3, nowMs);
    } catch {
      this.recover();
      return this.shape.maxTokens;
    }
  }

  /** Clients whose bucket has not refilled to max (a scan of the whole table: not for the request path). */
  liveClients(nowMs: number): number {
    return this.ex.bucketsLive(nowMs);
  }

  /** Live buckets dropped to make room for new clients since the table (or its last trap) began. */
  evictions(): number {
    return this.ex.bucketsEvictions();
  }

  /** Test hook: make the next take() trap inside the module. */
  trapOnNextTake(): void {
    this.trapNext = true;
  }
}
