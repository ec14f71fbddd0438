// Shared helpers for the end-to-end and interop suites (test/e2e-*.test.ts, test/interop-*.test.ts).
//
// Everything runs on loopback with ephemeral ports: Tollgate is started in-process from a bootstrap built here (port 0
// everywhere; the bound ports are read back from TollgateServer.boundAddresses), upstreams are node servers on port 0,
// and clients are raw sockets, so the bytes on the wire are exactly the ones a test writes (a PROXY header, split
// writes, pipelined requests, garbage). Every server, socket and child process is closed in t.teardown.
import type { ExecutionContext } from "ava";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerOptions, type ServerResponse } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { TollgateServer } from "../../proxy/server.js";
import { flushAccessLogs } from "../../proxy/observability/access-log/index.js";
import { setLogLevel } from "../../proxy/observability/logger.js";
import { startEchoServer, type EchoReply } from "../../proxy/tools/echo-server.js";

// The application log (pino JSON on stderr) would drown ava's output; errors still show.
setLogLevel(process.env.TOLLGATE_TEST_LOG_LEVEL ?? "error");

type T = ExecutionContext<unknown>;
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const T_PROXY = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
const T_TOLLGATE_PROXY = "type.googleapis.com/tollgate.extensions.filters.listener.proxy_protocol.v1.ProxyProtocol";
const T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const T_TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const T_FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

// ---- temp dirs ------------------------------------------------------------------------------------------------------

export function tempDir(t: T, prefix = "tollgate-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- bootstrap builders -----------------------------------------------------------------------------------------------

/** Envoy's proxy_protocol listener filter (or Tollgate's, with trusted_sources, when `tollgate` is set). */
export function proxyProtocolFilter(config: Record<string, Json> = {}, tollgate = false): Json {
  return {
    name: tollgate ? "tollgate.filters.listener.proxy_protocol" : "envoy.filters.listener.proxy_protocol",
    typed_config: { "@type": tollgate ? T_TOLLGATE_PROXY : T_PROXY, ...config },
  };
}

/**
 * The access log format the e2e tests read back: one JSON object per line with everything a test asserts on.
 * Every value is a string (Envoy's json_format keeps the operator's text) so assertions compare text.
 */
export const TEST_LOG_FORMAT: Record<string, string> = {
  code: "%RESPONSE_CODE%",
  flags: "%RESPONSE_FLAGS%",
  details: "%RESPONSE_CODE_DETAILS%",
  remote: "%DOWNSTREAM_REMOTE_ADDRESS%",
  remote_ip: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
  direct: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%",
  local: "%DOWNSTREAM_LOCAL_ADDRESS%",
  xff: "%REQ(X-FORWARDED-FOR)%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  upstream: "%UPSTREAM_HOST%",
  cluster: "%UPSTREAM_CLUSTER%",
  received: "%BYTES_RECEIVED%",
  sent: "%BYTES_SENT%",
};

export interface HcmOptions {
  statPrefix?: string;
  useRemoteAddress?: boolean;
  xffNumTrustedHops?: number;
  /** Route config `virtual_hosts`; default one `*` host routing `/` to `cluster`. */
  virtualHosts?: Json[];
  /** Cluster for the default route. */
  cluster?: string;
  /** Route action fields merged into the default route's `route` (e.g. timeout, retry_policy). */
  routeExtra?: Record<string, Json>;
  /** A file access log with TEST_LOG_FORMAT as json_format (null: none). */
  accessLogPath?: string | null;
  /** Extra HCM fields (upgrade_configs, common_http_protocol_options, ...). */
  extra?: Record<string, Json>;
}

export function fileAccessLog(path: string, format: Record<string, string> = TEST_LOG_FORMAT): Json {
  return { name: "envoy.access_loggers.file", typed_config: { "@type": T_FILE_LOG, path, log_format: { json_format: format } } };
}

export function hcmFilter(o: HcmOptions = {}): Json {
  const virtualHosts = o.virtualHosts ?? [
    { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: o.cluster ?? "backend", ...(o.routeExtra ?? {}) } }] },
  ];
  const cfg: Record<string, Json> = {
    "@type": T_HCM,
    stat_prefix: o.statPrefix ?? "ingress",
    use_remote_address: o.useRemoteAddress ?? true,
    route_config: { name: "local", virtual_hosts: virtualHosts },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } }],
    ...(o.extra ?? {}),
  };
  if (o.xffNumTrustedHops !== undefined) cfg.xff_num_trusted_hops = o.xffNumTrustedHops;
  if (o.accessLogPath) cfg.access_log = [fileAccessLog(o.accessLogPath)];
  return { name: "envoy.filters.network.http_connection_manager", typed_config: cfg };
}

/** A virtual host answering every request itself (direct_response), for tests that need no upstream. */
export function directResponseHost(body: string, status = 200): Json {
  return { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status, body: { inline_string: body } } }] };
}

export function tcpProxyFilter(cluster: string, extra: Record<string, Json> = {}): Json {
  return { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": T_TCP, stat_prefix: "tcp", cluster, ...extra } };
}

export interface ListenerOptions {
  name?: string;
  address?: string;
  listenerFilters?: Json[];
  filters: Json[];
  extra?: Record<string, Json>;
}

export function listener(o: ListenerOptions): Json {
  return {
    name: o.name ?? "ingress",
    address: { socket_address: { address: o.address ?? "127.0.0.1", port_value: 0 } },
    ...(o.listenerFilters ? { listener_filters: o.listenerFilters } : {}),
    filter_chains: [{ filters: o.filters }],
    ...(o.extra ?? {}),
  };
}

export interface Endpoint {
  address?: string;
  port: number;
  healthStatus?: string;
}

export function staticCluster(name: string, endpoints: Array<Endpoint | number>, extra: Record<string, Json> = {}): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: endpoints.map((e) => {
            const ep = typeof e === "number" ? { port: e } : e;
            return {
              endpoint: { address: { socket_address: { address: ep.address ?? "127.0.0.1", port_value: ep.port } } },
              ...(ep.healthStatus ? { health_status: ep.healthStatus } : {}),
            };
          }),
        },
      ],
    },
    ...extra,
  };
}

export function bootstrapYaml(o: { listeners: Json[]; clusters?: Json[]; admin?: boolean }): string {
  const doc: Record<string, Json> = { static_resources: { listeners: o.listeners, clusters: o.clusters ?? [] } };
  if (o.admin) doc.admin = { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } };
  return stringify(doc);
}

// ---- Tollgate --------------------------------------------------------------------------------------------------------

export interface RunningTollgate {
  server: TollgateServer;
  /** Port of a listener (default: the first one, "ingress"). */
  port(listenerName?: string): number;
  /** A counter's (or gauge's) current value by Envoy name. */
  stat(name: string): number;
}

/** Start in-process from a YAML string, or from a file (`{ path }`, as `-c FILE`; not watched for changes). */
export async function startTollgate(t: T, config: string | { path: string }): Promise<RunningTollgate> {
  const source = typeof config === "string" ? { yaml: config } : { path: config.path };
  const server = new TollgateServer({ source, drainTimeS: 0, argv: [], watchConfig: false });
  t.teardown(() => server.stop());
  await server.start();
  return {
    server,
    port(name = "ingress") {
      const a = server.boundAddresses.get(name);
      if (!a) throw new Error(`no listener named ${name}`);
      return a.port;
    },
    stat(name: string) {
      return server.stats.counter(name).value();
    },
  };
}

/** The usual shape: a PROXY-protocol listener in front of an HCM routing everything to cluster `backend`. */
export async function startProxy(
  t: T,
  o: { backendPort: number; hcm?: HcmOptions; listenerFilters?: Json[]; listenerExtra?: Record<string, Json>; clusters?: Json[] },
): Promise<RunningTollgate> {
  const yaml = bootstrapYaml({
    listeners: [listener({ listenerFilters: o.listenerFilters ?? [proxyProtocolFilter()], filters: [hcmFilter(o.hcm)], extra: o.listenerExtra })],
    clusters: [staticCluster("backend", [o.backendPort]), ...(o.clusters ?? [])],
  });
  return startTollgate(t, yaml);
}

// ---- access log ------------------------------------------------------------------------------------------------------

export type LogEntry = Record<string, string>;

/**
 * Wait until the access log at `path` holds at least `n` lines and return them parsed. A line is written when the
 * stream ends, which can be just after the client has read the response, so this flushes and re-reads (bounded).
 */
export async function readAccessLog(path: string, n: number, timeoutMs = 5000): Promise<LogEntry[]> {
  const lines = await readAccessLogLines(path, n, timeoutMs);
  return lines.map((l) => stringifyValues(JSON.parse(l) as Record<string, unknown>));
}

/** The same wait for any log format (a text_format line, say): the raw lines, without their newlines. */
export async function readAccessLogLines(path: string, n: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await flushAccessLogs();
    const text = existsSync(path) ? readFileSync(path, "utf8") : "";
    const lines = text.split("\n").filter((l) => l.length > 0);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) throw new Error(`access log ${path} has ${lines.length} lines, expected ${n}:\n${text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function stringifyValues(o: Record<string, unknown>): LogEntry {
  const out: LogEntry = {};
  for (const [k, v] of Object.entries(o)) out[k] = v === null || v === undefined ? "-" : String(v);
  return out;
}

// ---- upstreams -------------------------------------------------------------------------------------------------------

export async function startEcho(t: T, host = "127.0.0.1"): Promise<{ server: HttpServer; port: number }> {
  const server = await startEchoServer(0, host);
  t.teardown(() => closeHttpServer(server));
  return { server, port: (server.address() as { port: number }).port };
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function startHttpUpstream(t: T, handler: Handler, options: ServerOptions = {}): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer(options, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => closeHttpServer(server));
  return { server, port: (server.address() as { port: number }).port };
}

function closeHttpServer(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A raw TCP upstream: `onSocket` gets every accepted socket; all are destroyed at teardown. */
export async function startTcpUpstream(t: T, onSocket: (s: Socket) => void, host = "127.0.0.1"): Promise<{ server: NetServer; port: number }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as { port: number }).port };
}

/** A port nothing listens on: bind port 0, note it, close. */
/**
 * A port on 127.0.0.1 where a connect is refused, for "the upstream is down" tests. Not a port that was free a
 * moment ago: ava runs test files in parallel, and another file's server may be given that port in between, turning
 * a connect failure into a connection to the wrong server. Port 1 (tcpmux) needs root to bind and no test binds it.
 */
export const REFUSED_PORT = 1;

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function ipv6Available(): Promise<boolean> {
  const s = createNetServer();
  return new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(0, "::1", () => s.close(() => resolve(true)));
  });
}

// ---- PROXY headers ---------------------------------------------------------------------------------------------------

export function proxyV1(src: string, dst: string, srcPort = 40000, dstPort = 443): Buffer {
  const fam = src.includes(":") ? "TCP6" : "TCP4";
  return Buffer.from(`PROXY ${fam} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, "latin1");
}

function ipBytes(ip: string): Buffer {
  if (!ip.includes(":")) return Buffer.from(ip.split(".").map(Number));
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const tl = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - tl.length).fill("0"), ...tl];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export function proxyV2(src: string, dst: string, srcPort = 40000, dstPort = 443): Buffer {
  const v6 = src.includes(":");
  const addr = Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([srcPort >> 8, srcPort & 0xff, dstPort >> 8, dstPort & 0xff])]);
  return Buffer.concat([V2_SIG, Buffer.from([0x21, v6 ? 0x21 : 0x11, addr.length >> 8, addr.length & 0xff]), addr]);
}

/** v2 LOCAL (what an LB's health check sends): the socket's own addresses stay. */
export function proxyV2Local(): Buffer {
  return Buffer.concat([V2_SIG, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
}

// ---- raw HTTP client -------------------------------------------------------------------------------------------------

export interface RawResponse {
  status: number;
  reason: string;
  version: string;
  /** Header pairs in order, names lower-cased. */
  headers: Array<[string, string]>;
  body: Buffer;
  header(name: string): string | undefined;
}

/**
 * Parse one HTTP/1.x response from the front of `buf`. Returns null when more bytes are needed. A body delimited
 * by the end of the connection is complete only when `ended` is set.
 */
export function parseResponse(buf: Buffer, ended: boolean, requestMethod = "GET"): { response: RawResponse; consumed: number } | null {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
  const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0] ?? "");
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    headers.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  const header = (name: string): string | undefined => headers.find((h) => h[0] === name)?.[1];
  const status = Number(m[2]);
  let at = headEnd + 4;
  let body: Buffer;
  const noBody = requestMethod === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) body = Buffer.alloc(0);
  else if (/chunked/i.test(header("transfer-encoding") ?? "")) {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", at);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.subarray(at, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size");
      if (size === 0) {
        // Trailers (none expected) end with an empty line.
        const end = buf.indexOf("\r\n\r\n", lineEnd);
        if (end < 0 && buf.length < lineEnd + 4) return null;
        at = end < 0 ? lineEnd + 4 : end + 4;
        break;
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (header("content-length") !== undefined) {
    const len = Number(header("content-length"));
    if (buf.length < at + len) return null;
    body = buf.subarray(at, at + len);
    at += len;
  } else {
    if (!ended) return null;
    body = buf.subarray(at);
    at = buf.length;
  }
  return { response: { status, reason: m[3] ?? "", version: m[1]!, headers, body, header }, consumed: at };
}

/**
 * A raw client connection: write bytes exactly as given, read responses one by one. `closed` resolves when the
 * peer has closed (or reset) the connection.
 */
export class RawConnection {
  // Received bytes are kept as a list and joined only when a parse needs them, and a body of known length is waited
  // for without re-joining on every read: reading a 64 MB response stays linear.
  private parts: Buffer[] = [];
  private size = 0;
  private ended = false;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  /** True when the connection ended with an error (e.g. ECONNRESET) rather than a FIN. */
  errored = false;

  constructor(readonly socket: Socket) {
    socket.on("data", (c: Buffer) => {
      this.parts.push(c);
      this.size += c.length;
      this.wake();
    });
    socket.on("error", () => {
      this.errored = true;
    });
    this.closed = new Promise((resolve) => {
      const done = (): void => {
        this.ended = true;
        this.wake();
        resolve();
      };
      socket.once("end", done);
      socket.once("close", done);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private joined(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.size)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  private consume(n: number): void {
    const rest = this.joined().subarray(n);
    this.parts = [rest];
    this.size = rest.length;
  }

  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Write the bytes one at a time, each in its own TCP write (Nagle off), waiting for each to be flushed. */
  async writeByteByByte(data: Buffer): Promise<void> {
    for (let i = 0; i < data.length; i++) await this.write(data.subarray(i, i + 1));
  }

  /** Wait until at least `need` bytes have arrived, or the connection ends, or the deadline passes. */
  private waitFor(need: number, deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      const check = (): void => {
        if (this.size >= need || this.ended) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** The next complete response (throws if the connection ends first). */
  async response(method = "GET", timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const buf = this.joined();
      const r = parseResponse(buf, this.ended, method);
      if (r) {
        this.consume(r.consumed);
        return r.response;
      }
      const sample = JSON.stringify(buf.subarray(0, 300).toString("latin1"));
      if (this.ended) throw new Error(`connection closed before a complete response; got ${sample} (${buf.length} bytes)`);
      if (Date.now() >= deadline) throw new Error(`no complete response within ${timeoutMs} ms; got ${sample} (${buf.length} bytes)`);
      await this.waitFor(Math.max(buf.length + 1, bytesNeeded(buf)), deadline);
    }
  }

  /** Every byte received until the peer closed. */
  async readToEnd(timeoutMs = 10_000): Promise<Buffer> {
    await withTimeout(this.closed, timeoutMs, "connection did not close");
    return this.joined();
  }

  /** Bytes received and not yet consumed by response(). */
  get pending(): Buffer {
    return this.joined();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** For a response head with a content-length: the total bytes the response needs; otherwise 0. */
function bytesNeeded(buf: Buffer): number {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return 0;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, headEnd).toString("latin1"));
  return m ? headEnd + 4 + Number(m[1]) : 0;
}

export async function openConnection(t: T, port: number, host = "127.0.0.1", localAddress?: string): Promise<RawConnection> {
  // allowHalfOpen: the test decides when to end its side; a FIN from Tollgate must not close it for us.
  const socket = connect({ port, host, noDelay: true, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
  t.teardown(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return new RawConnection(socket);
}

/** Connect, write `bytes` (a PROXY header and a request, say), and read one response. */
export async function exchange(t: T, port: number, bytes: Buffer | string, host = "127.0.0.1"): Promise<RawResponse> {
  const c = await openConnection(t, port, host);
  await c.write(bytes);
  const r = await c.response();
  c.destroy();
  return r;
}

export function get(path = "/", headers: Record<string, string> = {}, host = "example.com"): string {
  let s = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return `${s}\r\n`;
}

export function echoOf(r: RawResponse): EchoReply {
  return JSON.parse(r.body.toString("utf8")) as EchoReply;
}

export function withTimeout<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}

// ---- processes -------------------------------------------------------------------------------------------------------

export function hasBinary(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/**
 * A peer binary the interop tests need: present ⇒ run; missing ⇒ skip locally, but in CI (CI=true) run anyway so
 * the spawn fails and the test fails loudly rather than passing by skipping.
 */
export function needsBinary(name: string): boolean {
  return hasBinary(name) || process.env.CI === "true";
}

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Spawn a process; it is killed by PID (SIGKILL if still running) at teardown. */
export function spawnTracked(t: T, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString("utf8")));
  // 'close', not 'exit': 'exit' can come before the last stdout/stderr bytes have been read.
  const exited = new Promise<number | null>((resolve) => {
    child.once("close", (code) => resolve(code));
    child.once("error", (e) => {
      err += String(e);
      resolve(-1);
    });
  });
  t.teardown(async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      // By PID, this one process only.
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    }
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Resolve once something accepts TCP connections on host:port (a child process has bound), bounded. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000, exited?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited?.then(() => (gone = true));
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (gone) throw new Error(`process exited before listening on ${host}:${port}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
