// End to end: envoy.filters.network.local_ratelimit in front of the connection manager. A connection over the
// limit is closed before any byte is answered; the Tollgate type adds a bucket per client (PROXY address).
import test, { type ExecutionContext } from "ava";
import {
  bootstrapYaml,
  get,
  hcmFilter,
  listener,
  openConnection,
  proxyProtocolFilter,
  proxyV1,
  startEcho,
  startTollgate,
  staticCluster,
  type Json,
  type RunningTollgate,
} from "./helpers/e2e.js";

const ENVOY = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const TOLLGATE = "type.googleapis.com/tollgate.extensions.filters.network.local_ratelimit.v1.LocalRateLimit";

function rl(config: Record<string, Json>, type = ENVOY): Json {
  return { name: "envoy.filters.network.local_ratelimit", typed_config: { "@type": type, stat_prefix: "conns", ...config } };
}

async function start(t: ExecutionContext, filters: Json[][]): Promise<RunningTollgate> {
  const echo = await startEcho(t);
  const listeners = filters.map((f, i) => listener({ name: i === 0 ? "ingress" : `l${i}`, listenerFilters: [proxyProtocolFilter()], filters: [...f, hcmFilter()] }));
  return startTollgate(t, bootstrapYaml({ listeners, clusters: [staticCluster("backend", [echo.port])] }));
}

/** Open a connection as `client`, send one request; the status, or "closed" when the connection was refused. */
async function attempt(t: ExecutionContext, tg: RunningTollgate, client: string, listenerName = "ingress"): Promise<number | "closed"> {
  const c = await openConnection(t, tg.port(listenerName));
  await c.write(Buffer.concat([proxyV1(client, "192.0.2.1"), Buffer.from(get("/", { connection: "close" }))]));
  const bytes = await c.readToEnd();
  if (bytes.length === 0) return "closed";
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(bytes.toString("latin1"))?.[1] ?? 0);
}

test("each connection takes a token; with none left the connection is closed without a byte", async (t) => {
  const tg = await start(t, [[rl({ token_bucket: { max_tokens: 2, fill_interval: "3600s" } })]]);
  t.deepEqual([await attempt(t, tg, "203.0.113.1"), await attempt(t, tg, "203.0.113.2"), await attempt(t, tg, "203.0.113.3")], [200, 200, "closed"]);
  t.is(tg.stat("local_rate_limit.conns.rate_limited"), 1);
});

test("runtime_enabled false lets every connection through", async (t) => {
  const tg = await start(t, [[rl({ token_bucket: { max_tokens: 1, fill_interval: "3600s" }, runtime_enabled: { runtime_key: "k", default_value: false } })]]);
  t.deepEqual([await attempt(t, tg, "203.0.113.1"), await attempt(t, tg, "203.0.113.1"), await attempt(t, tg, "203.0.113.1")], [200, 200, 200]);
  t.is(tg.stat("local_rate_limit.conns.rate_limited"), 0);
});

test("Tollgate type: a bucket per client address after the PROXY header; a noisy client spends none of the shared tokens", async (t) => {
  const tg = await start(t, [
    [
      rl(
        {
          token_bucket: { max_tokens: 4, fill_interval: "3600s" },
          client_token_bucket: { max_tokens: 2, fill_interval: "3600s" },
          max_clients: 128,
        },
        TOLLGATE,
      ),
    ],
  ]);
  const noisy: Array<number | "closed"> = [];
  for (let i = 0; i < 5; i++) noisy.push(await attempt(t, tg, "198.51.100.7"));
  t.deepEqual(noisy, [200, 200, "closed", "closed", "closed"]);
  // Two shared tokens are left: the noisy client's refused connections took none of them.
  t.deepEqual([await attempt(t, tg, "203.0.113.1"), await attempt(t, tg, "203.0.113.2"), await attempt(t, tg, "203.0.113.3")], [200, 200, "closed"]);
  t.is(tg.stat("local_rate_limit.conns.rate_limited"), 4);
});

test("share_key: two listeners with the same key and bucket share one bucket", async (t) => {
  const shared = rl({ token_bucket: { max_tokens: 2, fill_interval: "3600s" }, share_key: "edge" });
  const tg = await start(t, [[shared], [shared]]);
  t.deepEqual(
    [await attempt(t, tg, "203.0.113.1", "ingress"), await attempt(t, tg, "203.0.113.1", "l1"), await attempt(t, tg, "203.0.113.1", "ingress"), await attempt(t, tg, "203.0.113.1", "l1")],
    [200, 200, "closed", "closed"],
  );
  const own = await start(t, [[rl({ token_bucket: { max_tokens: 1, fill_interval: "3600s" } })], [rl({ token_bucket: { max_tokens: 1, fill_interval: "3600s" } })]]);
  t.deepEqual([await attempt(t, own, "203.0.113.1", "ingress"), await attempt(t, own, "203.0.113.1", "l1")], [200, 200], "without a share_key each has its own");
});
