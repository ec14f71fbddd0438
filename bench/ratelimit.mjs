// bench: standalone
// Per-client rate-limit decisions with one million distinct clients: Tollgate's WebAssembly table beside a
// JavaScript Map of buckets (the obvious implementation), in one run.
//
//   node bench/ratelimit.mjs [--quick]        (npm run bench runs it with tsx loaded)
//
// Both sides make the same decision with the same arithmetic (Envoy's continuous token bucket):
//   wasm   BucketTable.take(k0, k1, k2, k3, now): a fixed 8-way table of 24-byte cells in WebAssembly
//          memory, sized for 1,000,000 clients (24 MB), evicting the cell closest to full when a group is full
//   js-map Map<key, TokenBucket>: get, create when absent, bucket.take(now) — unbounded, no eviction
// at two levels:
//   key    the client is a number already (IPv4 as u32)
//   text   the client is its address text, as the filter receives it (stream.clientAddress.ip):
//          wasm = ClientKeyer.keyOf(text) + take; js-map = Map keyed by the text
// and three access patterns over 1,000,000 clients that are all known (pre-populated) before timing:
//   uniform   every request from a client drawn uniformly (the worst case for caches)
//   hot       90% of requests from 10,000 clients, 10% from the rest
// plus one churn run: 1,000,000 requests each from a never-seen client (an address sweep), timed once,
// with the memory each side holds afterwards.
// Timing: batches of ~BATCH_MS timed with process.hrtime.bigint(), implementations interleaved round by round;
// reported: median ns/op (and decisions/s), ratio = median of per-round ratios. Results: stdout and
// bench/results/ratelimit.json (+ a timestamped copy).
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 3 : 11;
const BATCH_MS = quick ? 10 : 25;
const WARMUP_MS = quick ? 100 : 400;
const CLIENTS = 1_000_000;
const CHURN = quick ? 300_000 : 1_000_000;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

async function load() {
  const dist = join(root, "dist/wasm/buckets.js");
  const distKey = join(root, "dist/proxy/filters/common/ratelimit/client-key.js");
  const distBucket = join(root, "dist/proxy/filters/common/ratelimit/token-bucket.js");
  if (existsSync(dist) && existsSync(distKey) && existsSync(distBucket)) {
    let note = "dist/ (npm run build output)";
    if (statSync(join(root, "wasm/buckets.ts")).mtimeMs > statSync(dist).mtimeMs) note += "; WARNING: wasm/buckets.ts is newer than dist, run `npm run build`";
    return {
      buckets: await import(pathToFileURL(dist).href),
      key: await import(pathToFileURL(distKey).href),
      bucket: await import(pathToFileURL(distBucket).href),
      note,
    };
  }
  const { register } = await import("tsx/esm/api");
  register();
  return {
    buckets: await import(pathToFileURL(join(root, "wasm/buckets.ts")).href),
    key: await import(pathToFileURL(join(root, "proxy/filters/common/ratelimit/client-key.ts")).href),
    bucket: await import(pathToFileURL(join(root, "proxy/filters/common/ratelimit/token-bucket.ts")).href),
    note: "sources via tsx (dist/ not built)",
  };
}

const { buckets, key, bucket, note: source } = await load();
const { BucketTable, LIMITED } = buckets;
const { ClientKeyer } = key;
const { TokenBucket } = bucket;

const SHAPE = { maxTokens: 20, tokensPerFill: 10, fillIntervalMs: 1000 };

// ---------------------------------------------------------------------------------------------------------
// Clients: 1,000,000 distinct IPv4 addresses spread over the address space, as u32 and as text.
let seed = 0x2545f491;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};
const ips = new Uint32Array(CLIENTS);
{
  const seen = new Set();
  for (let i = 0; i < CLIENTS; ) {
    const v = (rand() & 0xdfffffff) | 0x01000000; // unicast-looking, no duplicates
    if (seen.has(v)) continue;
    seen.add(v);
    ips[i++] = v >>> 0;
  }
}
const text = (v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
const texts = Array.from(ips, text);

// Request sequences (indexes into the clients), long enough that a batch never repeats a short cycle.
const SEQ = 1 << 22;
const uniform = new Uint32Array(SEQ);
const hot = new Uint32Array(SEQ);
for (let i = 0; i < SEQ; i++) {
  uniform[i] = rand() % CLIENTS;
  hot[i] = rand() % 10 < 9 ? rand() % 10_000 : rand() % CLIENTS;
}
const PATTERNS = { uniform, hot };

// ---------------------------------------------------------------------------------------------------------
// The four structures, each pre-populated with every client (one request each).
let now = 1;
const wasmKey = new BucketTable(SHAPE, CLIENTS);
const wasmText = new BucketTable(SHAPE, CLIENTS);
const keyer = new ClientKeyer({ ipv4: 32, ipv6: 64 });
const mapKey = new Map();
const mapText = new Map();
for (let i = 0; i < CLIENTS; i++) {
  wasmKey.take(0, 0, 0xffff, ips[i], now);
  keyer.keyOf(texts[i]);
  const w = keyer.words;
  wasmText.take(w[0], w[1], w[2], w[3], now);
  const b1 = new TokenBucket(SHAPE);
  b1.take(now);
  mapKey.set(ips[i], b1);
  const b2 = new TokenBucket(SHAPE);
  b2.take(now);
  mapText.set(texts[i], b2);
}

// One function per implementation and level, so each loop keeps its own type feedback. Each advances the
// clock by 1 µs per decision and returns the number of allowed decisions (a checksum nothing can skip).
let pos = 0;
function wasmKeyLoop(seq, n) {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    now += 0.001;
    if (wasmKey.take(0, 0, 0xffff, ips[seq[pos++ & (SEQ - 1)]], now) !== LIMITED) ok++;
  }
  return ok;
}
function mapKeyLoop(seq, n) {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    now += 0.001;
    const k = ips[seq[pos++ & (SEQ - 1)]];
    let b = mapKey.get(k);
    if (b === undefined) mapKey.set(k, (b = new TokenBucket(SHAPE)));
    if (b.take(now) !== LIMITED) ok++;
  }
  return ok;
}
function wasmTextLoop(seq, n) {
  let ok = 0;
  const w = keyer.words;
  for (let i = 0; i < n; i++) {
    now += 0.001;
    if (!keyer.keyOf(texts[seq[pos++ & (SEQ - 1)]])) throw new Error("bad address");
    if (wasmText.take(w[0], w[1], w[2], w[3], now) !== LIMITED) ok++;
  }
  return ok;
}
function mapTextLoop(seq, n) {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    now += 0.001;
    const k = texts[seq[pos++ & (SEQ - 1)]];
    let b = mapText.get(k);
    if (b === undefined) mapText.set(k, (b = new TokenBucket(SHAPE)));
    if (b.take(now) !== LIMITED) ok++;
  }
  return ok;
}
const IMPLS = {
  key: { wasm: wasmKeyLoop, "js-map": mapKeyLoop },
  text: { wasm: wasmTextLoop, "js-map": mapTextLoop },
};

// Both sides must agree before anything is timed: same client, same instant, same answer.
{
  const t = new BucketTable(SHAPE, 64);
  const b = new TokenBucket(SHAPE);
  for (let i = 0; i < 200; i++) {
    const at = i * 17;
    if (t.take(1, 2, 3, 4, at) !== b.take(at)) throw new Error(`wasm and js disagree at step ${i}`);
  }
}

function timeBatch(fn, seq, n) {
  const t0 = process.hrtime.bigint();
  fn(seq, n);
  return Number(process.hrtime.bigint() - t0) / n;
}
function calibrate(fn, seq) {
  let n = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    fn(seq, n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > BATCH_MS / 4) return Math.max(1000, Math.round((n * BATCH_MS) / ms));
    n *= 4;
  }
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
};

const results = [];
for (const [level, impls] of Object.entries(IMPLS)) {
  for (const [pattern, seq] of Object.entries(PATTERNS)) {
    const sizes = {};
    for (const [name, fn] of Object.entries(impls)) {
      const end = Date.now() + WARMUP_MS;
      while (Date.now() < end) fn(seq, 10_000);
      sizes[name] = calibrate(fn, seq);
    }
    const ns = { wasm: [], "js-map": [] };
    const ratios = [];
    for (let r = 0; r < ROUNDS; r++) {
      const w = timeBatch(impls.wasm, seq, sizes.wasm);
      const m = timeBatch(impls["js-map"], seq, sizes["js-map"]);
      ns.wasm.push(w);
      ns["js-map"].push(m);
      ratios.push(m / w);
    }
    const row = { level, pattern, wasmNs: median(ns.wasm), mapNs: median(ns["js-map"]), ratio: median(ratios) };
    results.push(row);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Churn: CHURN requests, each from a new client. Timed once per side; memory measured after a full GC.
function heapMb() {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}
const churnIps = new Uint32Array(CHURN);
for (let i = 0; i < CHURN; i++) churnIps[i] = (0xf0000000 + i) >>> 0; // never seen before
let churnWasmNs;
let churnMapNs;
{
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CHURN; i++) wasmKey.take(0, 0, 0xffff, churnIps[i], (now += 0.001));
  churnWasmNs = Number(process.hrtime.bigint() - t0) / CHURN;
}
const heapBefore = heapMb();
{
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CHURN; i++) {
    const b = new TokenBucket(SHAPE);
    mapKey.set(churnIps[i], b);
    b.take((now += 0.001));
  }
  churnMapNs = Number(process.hrtime.bigint() - t0) / CHURN;
}
const heapAfter = heapMb();
const mapBytesPerClient = ((heapAfter - heapBefore) * 1048576) / CHURN;

// ---------------------------------------------------------------------------------------------------------
const fmt = (x, d = 0) => x.toFixed(d);
const mops = (nsPerOp) => fmt(1000 / nsPerOp, 1);
console.log(`rate-limit decisions, ${CLIENTS.toLocaleString("en")} distinct clients (Tollgate from ${source})`);
console.log(`machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? "?"}), load ${loadavg().map((l) => l.toFixed(1)).join(" ")}, Node ${process.version}`);
console.log("");
console.log("| input | pattern | wasm ns | js-map ns | wasm M decisions/s | js-map M decisions/s | js-map / wasm |");
console.log("|:--|:--|--:|--:|--:|--:|--:|");
for (const r of results) {
  console.log(`| ${r.level} | ${r.pattern} | ${fmt(r.wasmNs)} | ${fmt(r.mapNs)} | ${mops(r.wasmNs)} | ${mops(r.mapNs)} | ${fmt(r.ratio, 2)}x |`);
}
console.log("");
console.log(`churn: ${CHURN.toLocaleString("en")} requests from new clients`);
console.log(`| side | ns/decision | memory held after |`);
console.log("|:--|--:|:--|");
console.log(`| wasm | ${fmt(churnWasmNs)} | ${fmt((wasmKey.capacity * 24) / 1048576, 1)} MiB, fixed (${wasmKey.liveClients(now).toLocaleString("en")} live buckets, ${wasmKey.evictions().toLocaleString("en")} evictions) |`);
console.log(`| js-map | ${fmt(churnMapNs)} | +${fmt(heapAfter - heapBefore, 1)} MiB for the new clients (~${fmt(mapBytesPerClient)} bytes each, ${mapKey.size.toLocaleString("en")} entries, growing) |`);

const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? "",
  load: loadavg(),
  source,
  clients: CLIENTS,
  shape: SHAPE,
  rounds: ROUNDS,
  batchMs: BATCH_MS,
  results,
  churn: {
    requests: CHURN,
    wasmNs: churnWasmNs,
    mapNs: churnMapNs,
    wasmBytes: wasmKey.capacity * 24,
    mapHeapGrowthBytes: (heapAfter - heapBefore) * 1048576,
    wasmEvictions: wasmKey.evictions(),
  },
};
mkdirSync(join(here, "results"), { recursive: true });
writeFileSync(join(here, "results", "ratelimit.json"), JSON.stringify(out, null, 2));
writeFileSync(join(here, "results", `ratelimit-${out.date.replace(/[:.]/g, "-")}.json`), JSON.stringify(out, null, 2));
