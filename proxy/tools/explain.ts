// `tollgate explain` and `GET /rbac/explain`: why a client would be allowed, denied or rate limited.
//
// Users of IP allowlists behind a load balancer cannot tell why a client was denied (istio#34177, #47947): which
// address did the rule see, did the PROXY header count, which X-Forwarded-For entry was trusted? This walks one
// hypothetical request through a compiled configuration (server.ts compile(), the objects the proxy runs) step by
// step, with the proxy's own code at each step:
//   1. the listener and the filter chain (selectFilterChain on the post-PROXY addresses);
//   2. the TCP peer (direct_remote_ip);
//   3. the PROXY header: the listener's proxy_protocol filter itself reads a header encoded from the inputs
//      (trusted_sources, required or optional), giving the connection's remote address;
//   4. the trusted client address: deriveClientAddress(explain=true), as the connection manager calls it;
//   5. the route (selectRoute);
//   6. every RBAC filter, network and HTTP, per-route settings included: RbacEngine.explain();
//   7. every local rate limit filter: its descriptors and a peek at the buckets they would draw from.
// Nothing is sent, no stat moves and no token is taken: listener filters are fresh instances with a private stats
// store, and the network and HTTP filters are only read (settings, descriptors, engines, peek).
import type { Socket } from "node:net";
import { parseArgs } from "node:util";
import { DownstreamConnection, formatEndpoint } from "../listener/connection.js";
import type { FilterChainConfig, FilterChainMatch } from "../listener/config.js";
import { selectFilterChain } from "../listener/filter-chain-match.js";
import type { ListenerGraph } from "../listener/listener.js";
import { formatIp, parseIp, type Cidr } from "../net/ip.js";
import { StatsStore } from "../observability/stats.js";
import type { Compiled } from "../server.js";
import { buildCidrMatcher } from "../filters/common/cidr-matcher.js";
import { RbacRequest } from "../filters/common/rbac/request.js";
import type { ProxyProtocolConfig } from "../filters/listener/proxy-protocol/config.js";
import { ProxyProtocolFilter } from "../filters/listener/proxy-protocol/filter.js";
import { ConnectionManager } from "../filters/network/http-connection-manager/connection-manager.js";
import type { NetworkLocalRateLimitConfig } from "../filters/network/local-ratelimit/config.js";
import { NetworkLocalRateLimitFilter, CLOSE_DETAILS } from "../filters/network/local-ratelimit/filter.js";
import type { NetworkRbacConfig } from "../filters/network/rbac/config.js";
import { NetworkRbacFilter } from "../filters/network/rbac/filter.js";
import type { TcpProxyConfig } from "../filters/network/tcp-proxy/config.js";
import { TcpProxy } from "../filters/network/tcp-proxy/tcp-proxy.js";
import type { ListenerFilter, NetworkFilter } from "../filters/types.js";
import { explainHttp } from "./explain-http.js";
import { ExplainInputError, parseExplainParams, type AddressPort, type ExplainInput, type ExplainParams } from "./explain-input.js";
import { encodeProxyHeader } from "./explain-proxy-header.js";
import { formatReport } from "./explain-format.js";
import {
  endpointText, engineReport, rbacAddresses, type ChainStep, type ConnectionAddresses, type Decision, type ExplainReport, type HttpStep,
  type ListenerFilterStep, type NetworkFilterStep, type ProxyStep, type RbacFilterReport,
} from "./explain-report.js";

export { ExplainInputError, parseExplainParams, explainParamsFromQuery } from "./explain-input.js";
export type { ExplainInput, ExplainParams } from "./explain-input.js";
export type { ExplainReport } from "./explain-report.js";
export { formatReport } from "./explain-format.js";

function cidrText(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefixLen}`;
}

/** A socket as DownstreamConnection reads it when accepted: only its four address fields. Nothing is connected. */
function socketLike(peer: AddressPort, localHost: string, localPort: number): Socket {
  return { remoteAddress: peer.ip, remotePort: peer.port, localAddress: localHost, localPort } as unknown as Socket;
}

function matchCriteria(m: FilterChainMatch): string[] {
  const out: string[] = [];
  if (m.destinationPort !== null) out.push(`destination_port ${m.destinationPort}`);
  if (m.prefixRanges.length > 0) out.push(`prefix_ranges ${m.prefixRanges.map(cidrText).join(", ")}`);
  if (m.serverNames.length > 0) out.push(`server_names ${m.serverNames.join(", ")}`);
  if (m.transportProtocol !== "") out.push(`transport_protocol ${m.transportProtocol}`);
  if (m.applicationProtocols.length > 0) out.push(`application_protocols ${m.applicationProtocols.join(", ")}`);
  if (m.directSourcePrefixRanges.length > 0) out.push(`direct_source_prefix_ranges ${m.directSourcePrefixRanges.map(cidrText).join(", ")}`);
  if (m.sourceType !== "ANY") out.push(`source_type ${m.sourceType}`);
  if (m.sourcePrefixRanges.length > 0) out.push(`source_prefix_ranges ${m.sourcePrefixRanges.map(cidrText).join(", ")}`);
  if (m.sourcePorts.length > 0) out.push(`source_ports ${m.sourcePorts.join(", ")}`);
  return out;
}

/** The request line and headers the client would send, for listener filters that look at the first bytes. */
function requestBytes(input: ExplainInput): Buffer {
  let head = `${input.method} ${input.path} HTTP/1.1\r\nhost: ${input.host}\r\n`;
  for (const [k, v] of input.headers) head += `${k}: ${v}\r\n`;
  if (input.xff !== undefined) head += `x-forwarded-for: ${input.xff}\r\n`;
  return Buffer.from(`${head}\r\n`, "latin1");
}

/** The PROXY header's destination: the input's, else the listener's address (a wildcard or other family: loopback). */
function proxyDestination(input: ExplainInput, source: AddressPort, graph: ListenerGraph): { dst: AddressPort; assumed: boolean } {
  const srcV6 = parseIp(source.ip)!.length === 16;
  if (input.proxyDestination !== null) {
    if ((parseIp(input.proxyDestination.ip)!.length === 16) !== srcV6) {
      throw new ExplainInputError("BAD_ADDRESS", "the PROXY source and destination must be of one family (both IPv4 or both IPv6)");
    }
    return { dst: input.proxyDestination, assumed: false };
  }
  const a = graph.config.address;
  const host = parseIp(a.host);
  const usable = host !== null && (host.length === 16) === srcV6 && host.some((b) => b !== 0);
  return { dst: { ip: usable ? formatIp(host) : srcV6 ? "::1" : "127.0.0.1", port: a.port }, assumed: true };
}

interface ListenerRun {
  steps: ListenerFilterStep[];
  closed: { reason: string } | null;
  /** The bytes no listener filter consumed: what the network filters read first. */
  rest: Buffer;
}

/**
 * The listener-filter pipeline (listener.ts runListenerFilters) over bytes that are all there: each filter sees the
 * bytes not yet consumed and answers continue / need_more / close.
 */
function runListenerFilters(graph: ListenerGraph, filters: readonly ListenerFilter[], conn: DownstreamConnection, bytes: Buffer): ListenerRun {
  const steps: ListenerFilterStep[] = [];
  let pending = bytes;
  for (let i = 0; i < filters.length; i++) {
    const name = graph.config.listenerFilters[i].name;
    const v = filters[i].onData(conn, pending);
    if (v.status === "close") {
      steps.push({ name, verdict: "close", consumed: 0, reason: v.reason });
      return { steps, closed: { reason: v.reason }, rest: pending };
    }
    if (v.status === "need_more") {
      const cfg = graph.config;
      const wait = `waits for more bytes than the client sends; after listener_filters_timeout (${cfg.listenerFiltersTimeoutMs} ms)`;
      if (cfg.continueOnListenerFiltersTimeout) {
        steps.push({ name, verdict: "need_more", consumed: 0, reason: `${wait} the connection continues (continue_on_listener_filters_timeout)` });
        return { steps, closed: null, rest: pending };
      }
      steps.push({ name, verdict: "need_more", consumed: 0, reason: `${wait} it is closed` });
      return { steps, closed: { reason: "listener filters timed out" }, rest: pending };
    }
    steps.push({ name, verdict: "continue", consumed: v.consumed, reason: null });
    if (v.consumed > 0) pending = pending.subarray(v.consumed);
  }
  return { steps, closed: null, rest: pending };
}

function proxyExplanation(
  pp: { name: string; config: ProxyProtocolConfig } | null,
  input: ExplainInput,
  header: ProxyStep["header"],
  peerTrusted: boolean | null,
  run: ListenerRun,
  conn: DownstreamConnection,
  unread: boolean,
): string[] {
  const out: string[] = [];
  const peer = input.peer.ip;
  if (pp === null) {
    out.push("the listener has no proxy_protocol listener filter: no header is read");
    if (header !== null) out.push("the header the load balancer sends reaches the network filters as data (an HTTP listener answers 400)");
    out.push(`the connection's remote address is the TCP peer ${peer}`);
    return out;
  }
  const c = pp.config;
  out.push(
    c.allowRequestsWithoutProxyProtocol
      ? `${pp.name}: a PROXY header is optional (allow_requests_without_proxy_protocol: true)`
      : `${pp.name}: a PROXY header is required (allow_requests_without_proxy_protocol: false)`,
  );
  if (c.trustedSources === null) out.push("no trusted_sources: a header is honoured from any peer (as Envoy does)");
  else {
    out.push(
      `trusted_sources ${c.trustedSources.map(cidrText).join(", ")}: the peer ${peer} is ${peerTrusted ? "in the list" : "NOT in the list, so its header is not honoured"}`,
    );
  }
  const disallowed = [...(c.allowV1 ? [] : ["V1"]), ...(c.allowV2 ? [] : ["V2"])];
  out.push(
    disallowed.length === 0
      ? "disallowed_versions: none"
      : `disallowed_versions: ${disallowed.join(", ")} (not applicable here: the explanation sends an allowed version)`,
  );
  if (header === null) out.push("no --proxy-src: the load balancer sends no PROXY header");
  else {
    out.push(
      `the load balancer sends a v${header.version} header: source ${header.source}, destination ${header.destination}` +
        (header.destination_assumed ? " (assumed: give --proxy-dst for the address the client connected to)" : ""),
    );
  }
  const step = run.steps.find((s) => s.name === pp.name);
  if (step?.verdict === "close") out.push(`the filter closes the connection: ${step.reason}`);
  else if (step?.verdict === "need_more") out.push(`the filter ${step.reason}`);
  else if (conn.proxyHeader !== null) {
    out.push(`header read: the connection's remote address is ${formatEndpoint(conn.remote)} (network remote_ip, source_ip); direct_remote_ip stays ${peer}`);
  } else if (unread) {
    out.push("the header is not read (a header is optional here): its bytes reach the network filters as data (an HTTP listener answers 400)");
  } else {
    out.push(`no header: the connection keeps the TCP peer's address ${peer}`);
  }
  return out;
}

function networkRbac(cfg: NetworkRbacConfig, conn: DownstreamConnection): RbacFilterReport {
  const req = RbacRequest.forConnection(conn);
  const shadow = cfg.shadowRules ? engineReport(cfg.shadowRules, req) : null;
  const rules = cfg.rules ? engineReport(cfg.rules, req) : null;
  return {
    level: "network",
    settings: "filter",
    addresses: rbacAddresses(req),
    shadow_rules: shadow,
    rules,
    allowed: rules === null ? true : rules.allowed,
    details: rules?.details ?? null,
  };
}

function closed(by: string, details: string | null, summary: string): Decision {
  return { outcome: "closed", status: null, details, by, summary };
}

/**
 * Explain one request against a compiled configuration. Side-effect free on `compiled`: it may be the running one.
 * Throws ExplainInputError for inputs that name no listener or cannot form a PROXY header.
 */
export function explainRequest(compiled: Compiled, input: ExplainInput): ExplainReport {
  const names = [...compiled.graphs.keys()];
  const graph = input.listener === null ? compiled.graphs.values().next().value : compiled.graphs.get(input.listener);
  if (graph === undefined) {
    throw new ExplainInputError(
      "BAD_LISTENER",
      input.listener === null ? "the configuration has no listener" : `no listener named ${JSON.stringify(input.listener)} (listeners: ${names.join(", ")})`,
    );
  }
  const lc = graph.config;
  const conn = new DownstreamConnection(socketLike(input.peer, lc.address.host, lc.address.port));

  // Listener filters: fresh instances of the configured ones, counting into a stats store of their own.
  const ctx = { stats: new StatsStore({ processMetrics: false, flushIntervalMs: 0 }), clusters: compiled.clusters, listenerStatPrefix: lc.statPrefix };
  const listenerFilters = lc.listenerFilters.map((f) => f.config.build(ctx));
  const ppIndex = listenerFilters.findIndex((f) => f instanceof ProxyProtocolFilter);
  const pp = ppIndex < 0 ? null : { name: lc.listenerFilters[ppIndex].name, config: lc.listenerFilters[ppIndex].config as ProxyProtocolConfig };

  let header: ProxyStep["header"] = null;
  let headerBytes: Buffer = Buffer.alloc(0);
  if (input.proxySource !== null) {
    const { dst, assumed } = proxyDestination(input, input.proxySource, graph);
    const version = pp !== null && !pp.config.allowV2 ? 1 : 2;
    headerBytes = encodeProxyHeader(version, input.proxySource, dst);
    header = { version, source: endpointText(input.proxySource.ip, input.proxySource.port), destination: endpointText(dst.ip, dst.port), destination_assumed: assumed };
  }
  const bytes = Buffer.concat([headerBytes, requestBytes(input)]);
  const run = runListenerFilters(graph, listenerFilters, conn, bytes);
  const unread = header !== null && run.closed === null && run.rest.length === bytes.length;
  let peerTrusted: boolean | null = null;
  if (pp?.config.trustedSources) {
    // The same matcher class the filter builds from the same list (the filter keeps its own private).
    const trusted = buildCidrMatcher(pp.config.trustedSources);
    peerTrusted = trusted.contains(input.peer.ip);
    trusted.dispose();
  }

  const report = {
    input: {
      peer: endpointText(input.peer.ip, input.peer.port),
      proxy_src: input.proxySource && endpointText(input.proxySource.ip, input.proxySource.port),
      proxy_dst: input.proxyDestination && endpointText(input.proxyDestination.ip, input.proxyDestination.port),
      xff: input.xff ?? null,
      method: input.method,
      path: input.path,
      host: input.host,
      headers: input.headers,
      listener: input.listener,
    },
    listener: { name: lc.name, address: endpointText(lc.address.host, lc.address.port), all: names },
    peer: {
      address: formatEndpoint(conn.directRemote),
      explanation: "the TCP peer: direct_remote_ip and %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% (behind a load balancer, the load balancer)",
    },
    proxy_protocol: {
      filter: pp?.name ?? null,
      required: pp === null ? null : !pp.config.allowRequestsWithoutProxyProtocol,
      trusted_sources: pp?.config.trustedSources ? pp.config.trustedSources.map(cidrText) : null,
      peer_trusted: peerTrusted,
      disallowed_versions: pp === null ? [] : [...(pp.config.allowV1 ? [] : ["V1"]), ...(pp.config.allowV2 ? [] : ["V2"])],
      header,
      honoured: conn.proxyHeader !== null && run.closed === null,
      remote_address: formatEndpoint(conn.remote),
      explanation: proxyExplanation(pp, input, header, peerTrusted, run, conn, unread),
    },
    listener_filters: run.steps,
  };

  if (run.closed !== null) {
    return {
      ...report,
      connection: null,
      filter_chain: null,
      network_filters: [],
      http: null,
      decision: closed(
        `listener filter ${run.steps[run.steps.length - 1].name}`,
        conn.terminationDetails ?? run.closed.reason,
        "the connection is closed before a byte reaches the network filters",
      ),
    };
  }
  const connection: ConnectionAddresses = {
    direct_remote: formatEndpoint(conn.directRemote),
    remote: formatEndpoint(conn.remote),
    local: formatEndpoint(conn.local),
    transport_protocol: conn.transportProtocol,
    unread_proxy_header: unread,
  };

  const chain = selectFilterChain(graph.chains, conn) ?? graph.defaultChain;
  if (chain === null) {
    return {
      ...report,
      connection,
      filter_chain: null,
      network_filters: [],
      http: null,
      decision: closed(`listener ${lc.name}`, null, "no filter chain matches the connection: it is closed (listener stat no_filter_chain_match)"),
    };
  }
  const chainIndex = graph.chains.indexOf(chain);
  const chainConfig: FilterChainConfig = chainIndex >= 0 ? lc.filterChains[chainIndex] : lc.defaultFilterChain!;
  const filterChain: ChainStep = {
    name: chainConfig.name,
    index: chainIndex >= 0 ? chainIndex : null,
    match: matchCriteria(chainConfig.match),
    inputs: [
      `destination ${formatEndpoint(conn.local)}`,
      `direct source ${conn.directRemote.ip}`,
      `source ${formatEndpoint(conn.remote)}`,
      `transport protocol ${conn.transportProtocol}`,
      `server name ${conn.requestedServerName || "(none)"}`,
    ],
    chains: lc.filterChains.length,
    explanation:
      chainIndex >= 0
        ? `filter_chains[${chainIndex}] (${JSON.stringify(chainConfig.name)}) is selected by filter_chain_match`
        : "no filter_chain_match matches: the default_filter_chain is used",
  };

  let decision: Decision | null = null;
  let http: HttpStep | null = null;
  const networkFilters: NetworkFilterStep[] = [];
  chain.filters.forEach((built: NetworkFilter, index) => {
    const ext = chainConfig.filters[index];
    const reached = decision === null;
    const by = `${ext.name} (network filter ${index})`;
    if (built instanceof NetworkRbacFilter) {
      const rbac = networkRbac(ext.config as NetworkRbacConfig, conn);
      networkFilters.push({ name: ext.name, kind: "rbac", index, reached, rbac });
      if (reached && !rbac.allowed) decision = closed(by, rbac.details, "the connection is closed by network RBAC, without a byte written");
    } else if (built instanceof NetworkLocalRateLimitFilter) {
      const cfg = ext.config as NetworkLocalRateLimitConfig;
      const p = built.limiter.peek(conn.remote.ip);
      const allowed = !cfg.enabled || p.allowed;
      networkFilters.push({
        name: ext.name,
        kind: "local_ratelimit",
        index,
        reached,
        ratelimit: { stat_prefix: cfg.statPrefix, enabled: cfg.enabled, client: p.client, global_tokens: p.global, allowed, limited_by: cfg.enabled ? p.limitedBy : null },
      });
      if (reached && !allowed) decision = closed(by, CLOSE_DETAILS, "the connection is closed: no token left for a new connection");
    } else if (built instanceof ConnectionManager) {
      networkFilters.push({ name: ext.name, kind: "http_connection_manager", index, reached, stat_prefix: built.config.statPrefix });
      const h = explainHttp(built, conn, input, compiled.clusters, reached && !unread);
      http = h.step;
      if (reached) {
        decision = unread
          ? {
              outcome: "local_reply",
              status: 400,
              details: "http1.codec_error",
              by: `${ext.name} (the HTTP codec)`,
              summary: "400 Bad Request: the unread PROXY header is not an HTTP request",
            }
          : h.decision;
      }
    } else if (built instanceof TcpProxy) {
      const cluster = (ext.config as TcpProxyConfig).cluster;
      networkFilters.push({ name: ext.name, kind: "tcp_proxy", index, reached, cluster });
      if (reached) {
        decision = {
          outcome: "forwarded",
          status: null,
          details: null,
          by,
          summary: `forwarded by tcp_proxy to cluster ${cluster}${unread ? " (the unread PROXY header included, as data)" : ""}`,
        };
      }
    } else {
      networkFilters.push({ name: ext.name, kind: "other", index, reached });
    }
  });
  return {
    ...report,
    connection,
    filter_chain: filterChain,
    network_filters: networkFilters,
    http,
    decision: decision ?? closed(`filter chain ${chainConfig.name}`, null, "no terminal filter takes the connection"),
  };
}

// ---- the CLI ---------------------------------------------------------------------------------------------------

export const EXPLAIN_USAGE = `Usage: tollgate explain -c FILE --peer ADDR [--proxy-src ADDR] [--proxy-dst ADDR] [--xff "a, b"]
                        [--method GET] [--path /x] [--host h] [--header name:value ...] [--listener NAME]
                        [--format text|json]

Explains, step by step, what Tollgate would do with one request: the listener and filter chain, the TCP peer,
the PROXY header (trusted_sources, required or optional), the trusted client address (use_remote_address,
xff_num_trusted_hops), the route, every RBAC policy (which permission and principal matched) and every local
rate limit (descriptors, the bucket it draws from). Nothing is sent and no socket is opened.

Options:
  -c, --config-path FILE   Envoy v3 bootstrap (YAML or JSON)
      --config-yaml YAML   bootstrap fragment merged over the file, as Envoy does
      --peer ADDR          the TCP peer: the load balancer (or the client when nothing is in front); ip or ip:port
      --proxy-src ADDR     the PROXY header's source (the client as the LB saw it); omit when the LB sends none
      --proxy-dst ADDR     the PROXY header's destination (default: the listener's address)
      --xff VALUE          the request's X-Forwarded-For
      --method M           default GET
      --path P             default /
      --host H             default localhost
      --header NAME:VALUE  another request header (repeatable)
      --listener NAME      default: the first listener
      --format F           text (default) or json
  -h, --help               this text

IPv6 with a port: [2001:db8::1]:443. Exit status: 0 explained (whatever the decision); 1 the configuration
does not load; 2 usage. See docs/explain.md.
`;

export interface ExplainIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (stream.write(text)) resolve();
    else stream.once("drain", () => resolve());
  });
}

/** Runs `tollgate explain`; resolves to the exit code. */
export async function runExplain(argv: string[], io: ExplainIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "config-path": { type: "string", short: "c" },
        "config-yaml": { type: "string" },
        peer: { type: "string" },
        "proxy-src": { type: "string" },
        "proxy-dst": { type: "string" },
        xff: { type: "string" },
        method: { type: "string" },
        path: { type: "string" },
        host: { type: "string" },
        header: { type: "string", multiple: true },
        listener: { type: "string" },
        format: { type: "string", default: "text" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    await write(io.stderr, `tollgate explain: ${(err as Error).message}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  if (values.help) {
    await write(io.stdout, EXPLAIN_USAGE);
    return 0;
  }
  const usage = async (why: string): Promise<number> => {
    await write(io.stderr, `tollgate explain: ${why}\n\n${EXPLAIN_USAGE}`);
    return 2;
  };
  const format = values.format;
  if (format !== "text" && format !== "json") return usage(`--format must be text or json, got '${format}'`);
  const source = { path: values["config-path"], yaml: values["config-yaml"] };
  if (!source.path && !source.yaml) return usage("a configuration is required (-c FILE or --config-yaml)");
  const params: ExplainParams = {
    peer: values.peer,
    proxySrc: values["proxy-src"],
    proxyDst: values["proxy-dst"],
    xff: values.xff,
    method: values.method,
    path: values.path,
    host: values.host,
    headers: values.header ?? [],
    listener: values.listener,
  };
  let input: ExplainInput;
  try {
    input = parseExplainParams(params);
  } catch (err) {
    if (err instanceof ExplainInputError) return usage(err.message);
    throw err;
  }

  // server.js imports this module (the admin endpoint); loaded here, when the CLI runs, not at module load.
  const { compile, loadAndParse } = await import("../server.js");
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  let compiled: Compiled;
  try {
    compiled = compile(await loadAndParse(source), stats);
  } catch (err) {
    await write(io.stderr, `tollgate explain: configuration '${source.path ?? "--config-yaml"}' does not load: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const report = explainRequest(compiled, input);
    await write(io.stdout, format === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  } catch (err) {
    if (err instanceof ExplainInputError) return usage(err.message);
    throw err;
  } finally {
    await closeCompiled(compiled);
    stats.close();
  }
}

/** What compile() started that outlives the call: the connection managers' codec timers and the clusters. */
async function closeCompiled(c: Compiled): Promise<void> {
  for (const g of c.graphs.values()) {
    for (const chain of g.defaultChain ? [...g.chains, g.defaultChain] : g.chains) {
      for (const f of chain.filters) await f.close?.();
    }
  }
  await c.clusters.close();
}
