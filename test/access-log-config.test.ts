import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../proxy/config/errors.js";
import { ConfigReader } from "../proxy/config/reader.js";
import {
  closeAccessLogs,
  flushAccessLogs,
  parseAccessLogs,
  reopenAccessLogs,
  type AccessLogContext,
} from "../proxy/observability/access-log/index.js";

const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

function readers(list: unknown[], base = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log"): ConfigReader[] {
  return list.map((item, i) => new ConfigReader(item, `${base}[${i}]`));
}

function ctx(over: Partial<AccessLogContext> = {}): AccessLogContext {
  return {
    startTime: Date.UTC(2024, 0, 2, 3, 4, 5, 6),
    requestHeaders: { get: (n) => ({ ":method": "GET", ":path": "/x", ":authority": "h" })[n] },
    protocol: "HTTP/1.1",
    responseCode: 204,
    responseFlags: "-",
    bytesReceived: 1,
    bytesSent: 2,
    durationMs: 3,
    downstreamRemoteAddress: "1.2.3.4:5",
    downstreamDirectRemoteAddress: "10.0.0.1:6",
    downstreamLocalAddress: "10.0.0.2:80",
    ...over,
  };
}

// Sinks are process-wide (one per path) and reopenAccessLogs() touches all of them: tests that write files run
// one at a time and close the files before their directory goes.
function tempDir(t: { teardown(f: () => void | Promise<void>): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-al-"));
  t.teardown(async () => {
    await closeAccessLogs();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test.serial("file logger with the default format writes Envoy's line to the path", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "access.log");
  const [logger] = parseAccessLogs(readers([{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE, path } }]));
  logger.log(ctx());
  await flushAccessLogs();
  t.is(readFileSync(path, "utf8"), '[2024-01-02T03:04:05.006Z] "GET /x HTTP/1.1" 204 - 1 2 3 - "-" "-" "-" "h" "-"\n');
});

test.serial("log_format: text_format, text_format_source.inline_string and json_format; loggers of one path share it", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "shared.log");
  const loggers = parseAccessLogs(
    readers([
      { name: "a", typed_config: { "@type": FILE, path, log_format: { text_format: "text %RESPONSE_CODE%\n" } } },
      { name: "b", typed_config: { "@type": FILE, path, log_format: { text_format_source: { inline_string: "src %PROTOCOL%\n" } } } },
      {
        name: "c",
        typed_config: {
          "@type": FILE,
          path,
          log_format: { json_format: { code: "%RESPONSE_CODE%", route: "%ROUTE_NAME%" }, omit_empty_values: true, content_type: "application/json" },
        },
      },
    ]),
  );
  for (const l of loggers) l.log(ctx());
  await flushAccessLogs();
  t.is(readFileSync(path, "utf8"), 'text 204\nsrc HTTP/1.1\n{"code":204}\n');
});

test("the legacy name envoy.file_access_log is only a label: the @type selects the logger", (t) => {
  const [l] = parseAccessLogs(readers([{ name: "envoy.file_access_log", typed_config: { "@type": STDOUT } }]));
  t.is(l.config.kind, "stdout");
});

test("refused with their paths: filter, deprecated FileAccessLog formats, formatters, unknown fields, unknown @type", (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ name: "x", filter: { status_code_filter: {} }, typed_config: { "@type": STDOUT } }, "access_log[0].filter", /filters are not supported/],
    [{ name: "x", typed_config: { "@type": FILE, path: "/tmp/x", format: "%PROTOCOL%" } }, "access_log[0].typed_config.format", /use log_format/],
    [{ name: "x", typed_config: { "@type": FILE, path: "/tmp/x", json_format: {} } }, "access_log[0].typed_config.json_format", /deprecated/],
    [{ name: "x", typed_config: { "@type": FILE, path: "/tmp/x", typed_json_format: {} } }, "access_log[0].typed_config.typed_json_format", /deprecated/],
    [{ name: "x", typed_config: { "@type": FILE } }, "access_log[0].typed_config.path", /required/],
    [{ name: "x", typed_config: { "@type": STDOUT, log_format: { text_format: "a", formatters: [{ name: "f" }] } } }, "access_log[0].typed_config.log_format.formatters", /not supported/],
    [{ name: "x", typed_config: { "@type": STDOUT, log_format: {} } }, "access_log[0].typed_config.log_format", /one of text_format, json_format, text_format_source is required/],
    [{ name: "x", typed_config: { "@type": STDOUT, log_format: { text_format: "a", json_format: {} } } }, "access_log[0].typed_config.log_format", /only one of/],
    [{ name: "x", typed_config: { "@type": STDOUT, log_format: { text_format_source: { filename: "/etc/f" } } } }, "access_log[0].typed_config.log_format.text_format_source.filename", /inline_string/],
    [{ name: "x", typed_config: { "@type": STDOUT, log_format: { text_format: "%BOGUS%" } } }, "access_log[0].typed_config.log_format.text_format", /BOGUS/],
    [{ name: "x", typed_config: { "@type": STDOUT, extra: 1 } }, "access_log[0].typed_config.extra", /unknown/],
    [{ name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig" } }, "access_log[0].typed_config.@type", /Didn't find a registered implementation/],
    [{ name: "envoy.access_loggers.file" }, "access_log[0].typed_config", /type URL: ''/],
  ];
  for (const [item, pathSuffix, message] of cases) {
    const err = t.throws(() => parseAccessLogs(readers([item], "access_log")), { instanceOf: ConfigError }, JSON.stringify(item));
    t.is(err?.path, pathSuffix, JSON.stringify(item));
    t.regex(err?.detail ?? "", message, JSON.stringify(item));
  }
});

test.serial("a logger never throws into the request path, even when a header source does", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "a.log");
  const [l] = parseAccessLogs(readers([{ name: "f", typed_config: { "@type": FILE, path, log_format: { text_format: "%REQ(X)%|%RESPONSE_CODE%\n" } } }]));
  const broken = ctx({
    requestHeaders: {
      get() {
        throw new Error("boom");
      },
    },
  });
  t.notThrows(() => l.log(broken));
  l.log(ctx());
  await flushAccessLogs();
  t.is(readFileSync(path, "utf8"), "-|204\n");
});

test.serial("reopen (SIGUSR1 / admin /reopen_logs) follows a rotated file; a missing directory drops lines until it exists", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "rot.log");
  const [l] = parseAccessLogs(readers([{ name: "f", typed_config: { "@type": FILE, path, log_format: { text_format: "%RESPONSE_CODE%\n" } } }]));
  l.log(ctx({ responseCode: 200 }));
  await flushAccessLogs();
  renameSync(path, `${path}.1`);
  reopenAccessLogs();
  l.log(ctx({ responseCode: 201 }));
  await flushAccessLogs();
  t.is(readFileSync(`${path}.1`, "utf8"), "200\n");
  t.is(readFileSync(path, "utf8"), "201\n");

  const missing = join(dir, "later", "x.log");
  const [m] = parseAccessLogs(readers([{ name: "f", typed_config: { "@type": FILE, path: missing, log_format: { text_format: "%RESPONSE_CODE%\n" } } }]));
  m.log(ctx({ responseCode: 500 }));
  await flushAccessLogs();
  m.log(ctx({ responseCode: 501 })); // dropped: the destination failed and is not retried for a while
  mkdirSync(join(dir, "later"));
  reopenAccessLogs();
  m.log(ctx({ responseCode: 502 }));
  await flushAccessLogs();
  t.is(readFileSync(missing, "utf8"), "502\n");
});

test("the stdout logger writes to fd 1 (checked in a child process)", (t) => {
  const script = `
    import { ConfigReader } from "./proxy/config/reader.ts";
    import { parseAccessLogs, flushAccessLogs } from "./proxy/observability/access-log/index.ts";
    const [l] = parseAccessLogs([new ConfigReader({ name: "s", typed_config: { "@type": "${STDOUT}", log_format: { text_format: "out %RESPONSE_CODE%\\n" } } }, "a")]);
    l.log({ startTime: 0, responseCode: 418, responseFlags: "-", bytesReceived: 0, bytesSent: 0, downstreamRemoteAddress: "", downstreamDirectRemoteAddress: "", downstreamLocalAddress: "" });
    await flushAccessLogs();
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: process.cwd(),
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, TOLLGATE_LOG_LEVEL: "error" },
  });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, "out 418\n");
});
