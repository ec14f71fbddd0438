// Upstream HTTP client comparison on loopback: undici (Pool per host, keep-alive) against node:http with a
// keep-alive Agent, and Tollgate's own host.request() (undici Client per pooled connection, Envoy-style pool).
//
//   node --import tsx bench/upstream-client.mjs [--seconds 3] [--concurrency 32] [--rounds 3] [--body 16]
//
// The upstream is a node:http server in a child process (so it does not share the client's event loop). Each round
// runs every client for the same duration with the same number of concurrent in-flight requests; the median
// requests/second of the rounds is reported, and the ratios to node:http.
import http from "node:http";
import { fork } from "node:child_process";
import { once, setMaxListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const SECONDS = Number(args.seconds ?? 3);
const CONCURRENCY = Number(args.concurrency ?? 32);
const ROUNDS = Number(args.rounds ?? 3);
const BODY_BYTES = Number(args.body ?? 16);

if (process.env.UPSTREAM_BENCH_SERVER) {
  const payload = Buffer.alloc(Number(process.env.UPSTREAM_BENCH_SERVER), 0x61);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": payload.length });
      res.end(payload);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
} else {
  await main();
}

async function main() {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, UPSTREAM_BENCH_SERVER: String(BODY_BYTES) },
    execArgv: [],
  });
  const [{ port }] = await once(child, "message");
  try {
    const clients = {
      "node:http Agent(keepAlive)": nodeHttpClient(port),
      "undici Pool": undiciClient(port),
      "tollgate host.request": await tollgateClient(port),
    };
    const results = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
    for (const c of Object.values(clients)) await run(c, 0.5); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, c] of Object.entries(clients)) results[name].push(await run(c, SECONDS));
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(results["node:http Agent(keepAlive)"]);
    console.log(`loopback, ${CONCURRENCY} in flight, ${BODY_BYTES}-byte responses, ${ROUNDS}×${SECONDS}s, node ${process.version}`);
    for (const [name, xs] of Object.entries(results)) {
      const m = median(xs);
      console.log(`${name.padEnd(28)} ${m.toFixed(0).padStart(8)} req/s   ×${(m / base).toFixed(2)} vs node:http`);
    }
    for (const c of Object.values(clients)) await c.close();
  } finally {
    child.kill();
  }
}

async function run(client, seconds) {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await client.once();
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done / ((performance.now() - t0) / 1000);
}

function nodeHttpClient(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  return {
    once: () =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: "/bench", method: "GET", agent }, (res) => {
          res.on("data", () => {});
          res.on("end", resolve);
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      }),
    close: async () => agent.destroy(),
  };
}

function undiciClient(port) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
  return {
    once: async () => {
      const res = await pool.request({ path: "/bench", method: "GET" });
      for await (const _ of res.body);
    },
    close: () => pool.close(),
  };
}

async function tollgateClient(port) {
  const { StatsStore } = await import("../proxy/observability/stats.ts");
  const { parseClusterJson } = await import("../proxy/upstream/config.ts");
  const { Cluster } = await import("../proxy/upstream/cluster.ts");
  const config = parseClusterJson(
    {
      name: "bench",
      load_assignment: {
        cluster_name: "bench",
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
      },
    },
    "bench",
  );
  const cluster = new Cluster(config, new StatsStore({ processMetrics: false, flushIntervalMs: 0 }));
  await cluster.initialize();
  const signal = new AbortController().signal;
  setMaxListeners(0, signal); // one signal shared by every in-flight request of the bench
  const headers = [["host", "bench"]];
  return {
    once: async () => {
      const res = await cluster.chooseHost().request({ method: "GET", path: "/bench", headers, body: null, timeoutMs: 0, signal });
      for await (const _ of res.body);
    },
    close: () => cluster.close(),
  };
}
