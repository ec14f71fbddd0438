// Configurations for bench/e2e.mjs: the allowlist file, Tollgate's bootstraps (with and without the allowlist and
// the per-client limiter), and the nginx and HAProxy configurations of the same PROXY-terminating reverse proxy.
// Every proxy gets one worker (Tollgate is one Node process), keep-alive to the upstream, and no access log.

/** mulberry32: a small deterministic PRNG, so every run uses the same allowlist. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An address outside every allowlist prefix: IPv4 prefixes are only drawn with a first octet of 1-191. */
export const OUTSIDE_CLIENT = "198.51.100.77";

/**
 * An allowlist of `count` distinct prefixes, 80% IPv4 (mostly /24, some /16-/23 and /25-/32, first octet 1-191
 * without 10 and 127) and 20% IPv6 (/32-/64 in 2001:db8::/16-ish space), and `clients` distinct IPv4 addresses
 * each inside a different IPv4 entry of the file. Returns {text, clients, v4, v6}.
 */
export function makeAllowlist(count, clients) {
  const rnd = prng(0x7011_6a7e);
  const seen = new Set();
  const lines = ["# bench/e2e.mjs: generated allowlist (deterministic)"];
  const hosts = [];
  let v4 = 0;
  let v6 = 0;
  while (lines.length - 1 < count) {
    if (rnd() < 0.8) {
      const r = rnd();
      const len = r < 0.7 ? 24 : r < 0.85 ? 16 + Math.floor(rnd() * 8) : 25 + Math.floor(rnd() * 8);
      let first = 1 + Math.floor(rnd() * 191);
      if (first === 10 || first === 127) first = 11;
      const addr = ((first << 24) | Math.floor(rnd() * 0x1000000)) >>> 0;
      const net = len === 32 ? addr : (addr & ~((1 << (32 - len)) - 1)) >>> 0;
      const key = `${net}/${len}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const text = [net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".");
      lines.push(`${text}/${len}`);
      v4++;
      // A client inside this entry: the network address itself for /31-/32, else network + 1.
      if (hosts.length < clients && len <= 30) {
        const h = net + 1;
        hosts.push([h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255].join("."));
      }
    } else {
      const len = [32, 40, 48, 56, 64][Math.floor(rnd() * 5)];
      const groups = [0x2001, Math.floor(rnd() * 0x10000), Math.floor(rnd() * 0x10000), Math.floor(rnd() * 0x10000)];
      const keep = len / 16; // whole groups kept; the rest are zero
      const g = groups.map((x, i) => (i < Math.floor(keep) ? x : i === Math.floor(keep) && len % 16 ? x & (0xffff << (16 - (len % 16))) & 0xffff : 0));
      const text = `${g.map((x) => x.toString(16)).join(":")}::/${len}`;
      if (seen.has(text)) continue;
      seen.add(text);
      lines.push(text);
      v6++;
    }
  }
  if (hosts.length < clients) throw new Error(`only ${hosts.length} client addresses for ${clients} connections`);
  return { text: `${lines.join("\n")}\n`, clients: hosts, v4, v6 };
}

const T = {
  proxy: "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  rbac: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  allowlist: "type.googleapis.com/tollgate.extensions.rbac.principals.v1.IpAllowlistFile",
  ratelimit: "type.googleapis.com/tollgate.extensions.filters.http.local_ratelimit.v1.LocalRateLimit",
};

/**
 * Tollgate's bootstrap: a PROXY listener on 127.0.0.1 port 0, the HTTP connection manager (use_remote_address, so
 * the PROXY client is the trusted address and goes upstream as X-Forwarded-For), a STATIC cluster to the upstream,
 * admin on port 0 (for the stats read after the run). `allowlistPath`: an RBAC ALLOW policy whose only principal is
 * the ip_allowlist_file on the REMOTE address. `ratelimit`: Tollgate's local rate limit with one remote_address
 * wildcard descriptor (a bucket per client in the WebAssembly table) whose bucket never runs dry.
 */
export function tollgateBootstrap({ upstreamPort, allowlistPath = null, ratelimit = false }) {
  const httpFilters = [];
  if (allowlistPath) {
    httpFilters.push({
      name: "envoy.filters.http.rbac",
      typed_config: {
        "@type": T.rbac,
        rules: {
          action: "ALLOW",
          policies: {
            allowlist: {
              permissions: [{ any: true }],
              principals: [{ custom: { name: "tollgate.rbac.principals.ip_allowlist_file", typed_config: { "@type": T.allowlist, path: allowlistPath, address: "REMOTE" } } }],
            },
          },
        },
      },
    });
  }
  if (ratelimit) {
    const always = (key) => ({ runtime_key: key, default_value: { numerator: 100, denominator: "HUNDRED" } });
    httpFilters.push({
      name: "envoy.filters.http.local_ratelimit",
      typed_config: {
        "@type": T.ratelimit,
        stat_prefix: "edge",
        filter_enabled: always("rl_enabled"),
        filter_enforced: always("rl_enforced"),
        descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1_000_000_000, tokens_per_fill: 1_000_000_000, fill_interval: "1s" } }],
      },
    });
  }
  httpFilters.push({ name: "envoy.filters.http.router", typed_config: { "@type": T.router } });
  const virtualHost = { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] };
  if (ratelimit) virtualHost.rate_limits = [{ actions: [{ remote_address: {} }] }];
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: "ingress",
          address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
          listener_filters: [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": T.proxy } }],
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": T.hcm,
                    stat_prefix: "ingress",
                    codec_type: "AUTO",
                    use_remote_address: true,
                    route_config: { name: "local", virtual_hosts: [virtualHost] },
                    http_filters: httpFilters,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "backend",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "backend",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }],
          },
        },
      ],
    },
  };
}

/** nginx 1.22: one worker, no master, PROXY on the listener, realip from it, XFF = the PROXY client, keep-alive upstream. */
export function nginxConf({ dir, port, upstreamPort, connections }) {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections ${Math.max(1024, connections * 4)}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive ${connections * 2};
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    set_real_ip_from 127.0.0.1;
    real_ip_header proxy_protocol;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_protocol_addr;
    }
  }
}
`;
}

/** HAProxy 2.6: one thread, accept-proxy on the bind, X-Forwarded-For from the PROXY client, connection reuse upstream. */
export function haproxyCfg({ port, upstreamPort, connections }) {
  return `global
  nbthread 1
  maxconn ${Math.max(4096, connections * 8)}
defaults
  mode http
  option http-keep-alive
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend fe
  bind 127.0.0.1:${port} accept-proxy
  option forwardfor
  default_backend be
backend be
  http-reuse always
  server up 127.0.0.1:${upstreamPort}
`;
}
