// The ip_allowlist_file principal end to end: a TollgateServer on loopback behind a PROXY-protocol listener, an HTTP
// RBAC ALLOW policy whose principal is an allowlist file, and keep-alive clients with different PROXY source addresses.
// The file is either laid out as a Kubernetes ConfigMap mount (`allowlist.txt -> ..data/allowlist.txt`,
// `..data -> ..<timestamp>`, updated by swapping `..data`) or a plain file edited in place.
// The file is edited under a bounded load loop: the decisions change without a restart, without a new connection and
// without a failed request; a bad file changes nothing and is counted; a full configuration reload closes the old
// configuration's watchers. Waits are bounded polls on stats and decisions, never sleeps.
import test from "ava";
import type { ExecutionContext } from "ava";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type ClientRequestArgs, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { stringify } from "yaml";
import { TollgateServer } from "../proxy/server.js";
import { allowlistWatcherCounts } from "../proxy/filters/common/rbac/principals/allowlist-file.js";

const STAT = "tollgate.ip_allowlist.allowlist";

// ---- a ConfigMap-style directory ----------------------------------------------------------------------------------

/** A directory laid out as the kubelet lays out a ConfigMap volume; `publish` swaps in new contents as it does. */
class ConfigMapDir {
  private version = 0;
  constructor(readonly dir: string) {}

  /** Write a new timestamped directory, point a new `..data` link at it, rename it over the old one (atomic). */
  publish(files: Record<string, string>): void {
    const previous = this.version === 0 ? null : `..v${this.version}`;
    const next = `..v${++this.version}`;
    mkdirSync(join(this.dir, next));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, next, name), text);
    symlinkSync(next, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    if (previous === null) {
      for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(this.dir, name));
    } else {
      rmSync(join(this.dir, previous), { recursive: true, force: true });
    }
  }
}

// ---- the bootstrap --------------------------------------------------------------------------------------------------

function bootstrap(allowlistPath: string, backendPort: number): string {
  return stringify({
    static_resources: {
      listeners: [
        {
          name: "ingress",
          address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
          listener_filters: [
            { name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } },
          ],
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress",
                    use_remote_address: true,
                    route_config: { name: "local", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
                    http_filters: [
                      {
                        name: "envoy.filters.http.rbac",
                        typed_config: {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                          rules: {
                            action: "ALLOW",
                            policies: {
                              allowlist: {
                                permissions: [{ any: true }],
                                principals: [
                                  {
                                    custom: {
                                      name: "tollgate.rbac.principals.ip_allowlist_file",
                                      typed_config: {
                                        "@type": "type.googleapis.com/tollgate.extensions.rbac.principals.v1.IpAllowlistFile",
                                        path: allowlistPath,
                                        address: "REMOTE",
                                      },
                                    },
                                  },
                                ],
                              },
                            },
                          },
                        },
                      },
                      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                    ],
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
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: backendPort } } } }] }],
          },
        },
      ],
    },
  });
}

// ---- clients ----------------------------------------------------------------------------------------------------------

/** A keep-alive HTTP client whose one connection starts with a PROXY v1 header naming `clientIp`. */
class ProxiedClient {
  readonly agent: Agent;
  /** Connections opened: stays 1 while the connection survives every reload and every 403. */
  connections = 0;

  constructor(
    readonly clientIp: string,
    private readonly port: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const family = clientIp.includes(":") ? "TCP6" : "TCP4";
    const destination = family === "TCP6" ? "2001:db8::443" : "203.0.113.1";
    this.agent.createConnection = (_opts: ClientRequestArgs, cb?: (err: Error | null, stream: Duplex) => void): Duplex => {
      this.connections++;
      const s = connect(this.port, "127.0.0.1");
      s.write(`PROXY ${family} ${clientIp} ${destination} 40000 443\r\n`);
      cb?.(null, s);
      return s;
    };
  }

  get(): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: this.port, path: "/", agent: this.agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  }
}

async function waitFor(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Harness {
  server: TollgateServer;
  /** Replace the allowlist's content: a ConfigMap swap, or an in-place write of a plain file. */
  edit(text: string): void;
  clients: Record<"a" | "b" | "c", ProxiedClient>;
  counter(name: string): number;
  gauge(name: string): number;
}

async function setup(t: ExecutionContext, initial: string, layout: "configmap" | "plain"): Promise<Harness> {
  const backend: Server = createServer((_req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end("upstream");
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        backend.closeAllConnections();
        backend.close(() => r());
      }),
  );
  const dir = mkdtempSync(join(tmpdir(), "tollgate-allowlist-e2e-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cm = new ConfigMapDir(join(dir, "config"));
  mkdirSync(cm.dir);
  const allowlist = join(cm.dir, "allowlist.txt");
  const edit = (text: string): void => (layout === "configmap" ? cm.publish({ "allowlist.txt": text }) : writeFileSync(allowlist, text));
  edit(initial);
  const configPath = join(dir, "tollgate.yaml");
  writeFileSync(configPath, bootstrap(allowlist, (backend.address() as { port: number }).port));
  const server = new TollgateServer({ source: { path: configPath }, drainTimeS: 1, argv: [], watchConfig: false });
  t.teardown(() => server.stop());
  await server.start();
  const port = server.boundAddresses.get("ingress")!.port;
  const clients = {
    a: new ProxiedClient("192.0.2.10", port),
    b: new ProxiedClient("198.51.100.7", port),
    c: new ProxiedClient("2001:db8::5", port),
  };
  t.teardown(() => {
    for (const c of Object.values(clients)) c.agent.destroy();
  });
  return {
    server,
    edit,
    clients,
    counter: (name) => server.stats.counter(name).value(),
    gauge: (name) => server.stats.gauge(name).value(),
  };
}

type Decision = "allowed" | "denied";
type Decisions = Record<"a" | "b" | "c", Decision>;

/** One request per client; anything but a 200 from the upstream or the RBAC 403 fails the test. */
async function decide(t: ExecutionContext, h: Harness): Promise<Decisions> {
  const out = {} as Decisions;
  for (const key of ["a", "b", "c"] as const) {
    const r = await h.clients[key].get();
    if (r.status === 200) {
      t.is(r.body, "upstream");
      out[key] = "allowed";
    } else {
      t.is(r.status, 403, `${key}: ${r.status} ${r.body}`);
      t.is(r.body, "RBAC: access denied");
      out[key] = "denied";
    }
  }
  return out;
}

/**
 * Keep every client sending on its connection until the decisions become `to`; each client must go from its `from`
 * decision straight to its `to` one (never back), and every request must succeed. Bounded by a deadline.
 */
async function loadUntil(t: ExecutionContext, h: Harness, from: Decisions, to: Decisions, change: () => void): Promise<number> {
  t.deepEqual(await decide(t, h), from, "before the change");
  change();
  const flipped = { a: from.a === to.a, b: from.b === to.b, c: from.c === to.c };
  let requests = 0;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const d = await decide(t, h);
    requests += 3;
    for (const key of ["a", "b", "c"] as const) {
      if (flipped[key]) t.is(d[key], to[key], `${key} went back after the change`);
      else if (d[key] === to[key]) flipped[key] = true;
      else t.is(d[key], from[key]);
    }
    if (flipped.a && flipped.b && flipped.c) return requests;
    if (Date.now() > deadline) throw new Error(`the decisions did not become ${JSON.stringify(to)} (last ${JSON.stringify(d)})`);
  }
}

test.serial("allowlist edits apply under load without a restart, a new connection or a failed request; a bad file changes nothing", async (t) => {
  const h = await setup(t, "# office\n192.0.2.0/24\n", "configmap");
  const before = allowlistWatcherCounts();
  t.is(h.gauge(`${STAT}.entries`), 1);
  t.is(h.counter(`${STAT}.reload_success`), 0);

  // 1. A Kubernetes ConfigMap update: the kubelet swaps the ..data link.
  const n1 = await loadUntil(
    t,
    h,
    { a: "allowed", b: "denied", c: "denied" },
    { a: "denied", b: "allowed", c: "allowed" },
    () => h.edit("198.51.100.0/24  # partner\n2001:db8::/32\n"),
  );
  t.true(n1 > 0);
  await waitFor("reload_success 1", () => h.counter(`${STAT}.reload_success`) === 1);
  t.is(h.gauge(`${STAT}.entries`), 2);

  // 2. A bad line: refused, counted, and the entries in force stay.
  h.edit("198.51.100.0/24\n10.0.0.300/8\n");
  await waitFor("reload_failure 1", () => h.counter(`${STAT}.reload_failure`) === 1);
  t.deepEqual(await decide(t, h), { a: "denied", b: "allowed", c: "allowed" });
  t.is(h.gauge(`${STAT}.entries`), 2);
  t.is(h.counter(`${STAT}.reload_success`), 1);

  // 3. The fix: applied.
  await loadUntil(
    t,
    h,
    { a: "denied", b: "allowed", c: "allowed" },
    { a: "allowed", b: "denied", c: "allowed" },
    () => h.edit("192.0.2.10\n2001:db8::/32\n"),
  );
  await waitFor("reload_success 2", () => h.counter(`${STAT}.reload_success`) === 2);
  t.is(h.gauge(`${STAT}.entries`), 2);

  // No restart: the same single connection per client carried every request, allowed or denied.
  t.deepEqual(
    Object.values(h.clients).map((c) => c.connections),
    [1, 1, 1],
  );
  t.is(h.counter("tollgate.reload.success"), 0);
  // The file reloads opened no watcher: still the one this configuration started.
  t.is(allowlistWatcherCounts().open, before.open);
});

test.serial("a full configuration reload closes the old configuration's watchers; the new one watches the file", async (t) => {
  const h = await setup(t, "192.0.2.0/24\n", "plain");
  const started = allowlistWatcherCounts();
  t.true(await h.server.reload());
  const reloaded = allowlistWatcherCounts();
  t.is(reloaded.opened, started.opened + 1, "the new configuration watches the file");
  t.is(reloaded.closed, started.closed + 1, "the old configuration's watcher is closed");
  t.is(reloaded.open, started.open);
  t.is(h.gauge(`${STAT}.entries`), 1);

  // The new configuration's watcher applies an in-place edit.
  await loadUntil(
    t,
    h,
    { a: "allowed", b: "denied", c: "denied" },
    { a: "allowed", b: "allowed", c: "denied" },
    () => h.edit("192.0.2.0/24\n198.51.100.0/24\n"),
  );
  await waitFor("reload_success 1", () => h.counter(`${STAT}.reload_success`) === 1);
  t.is(h.gauge(`${STAT}.entries`), 2);

  // A configuration reload that fails (the file now has a bad line) keeps the running one, and its watcher.
  h.edit("192.0.2.0/24\nnot-an-address\n");
  await waitFor("reload_failure 1", () => h.counter(`${STAT}.reload_failure`) === 1);
  t.false(await h.server.reload());
  t.is(allowlistWatcherCounts().open, started.open);
  t.deepEqual(await decide(t, h), { a: "allowed", b: "allowed", c: "denied" });

  await h.server.stop();
  t.is(allowlistWatcherCounts().open, started.open - 1, "stop closes the watcher");
});
