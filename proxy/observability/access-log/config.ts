// Access loggers as Envoy configures them: a list of config.accesslog.v3.AccessLog {name, typed_config}, the
// implementation chosen by the typed_config's @type:
//   envoy.access_loggers.file   (legacy envoy.file_access_log)  extensions.access_loggers.file.v3.FileAccessLog
//       path (required), log_format (SubstitutionFormatString; absent = Envoy's default format)
//   envoy.access_loggers.stdout  extensions.access_loggers.stream.v3.StdoutAccessLog   {log_format}
//   envoy.access_loggers.stderr  extensions.access_loggers.stream.v3.StderrAccessLog   {log_format}
// Refused, with their paths: AccessLog.filter (Tollgate logs every request), FileAccessLog's deprecated `format`,
// `json_format` and `typed_json_format` (use log_format), `formatters` extensions.
//
// Parsing compiles the format and resolves the destination; it opens nothing (see sinks.ts).
import { ConfigError } from "../../config/errors.js";
import type { ConfigReader } from "../../config/reader.js";
import { envoyType, registerExtension, resolveExtension } from "../../config/registry.js";
import { componentLogger } from "../logger.js";
import type { AccessLogContext } from "./context.js";
import { compileTextFormat, DEFAULT_FORMAT, type CompiledFormat } from "./formatter.js";
import { sinkFor, sinkForPath, type AccessLogSink } from "./sinks.js";
import { parseSubstitutionFormat } from "./substitution-format.js";

export interface AccessLoggerConfig {
  readonly kind: "file" | "stdout" | "stderr";
  /** The file path; `/dev/stdout` / `/dev/stderr` for the stream loggers. */
  readonly path: string;
  readonly format: CompiledFormat;
}

export interface AccessLogger {
  /** Format and write one line. Never throws: a failure is reported in the application log and the line dropped. */
  log(ctx: AccessLogContext): void;
  readonly config: AccessLoggerConfig;
}

const log = componentLogger("access_log");

function logFormat(r: ConfigReader, fieldPath: string): CompiledFormat {
  const lf = r.obj("log_format");
  return lf ? parseSubstitutionFormat(lf) : compileTextFormat(DEFAULT_FORMAT, fieldPath);
}

const DEPRECATED_FILE_FIELDS: Readonly<Record<string, string>> = {
  format: "log_format: {text_format: ...}",
  json_format: "log_format: {json_format: ...}",
  typed_json_format: "log_format: {json_format: ...}",
};

registerExtension<AccessLoggerConfig>({
  category: "access_logger",
  typeUrls: [`type.googleapis.com/${envoyType("access_loggers.file.v3.FileAccessLog")}`],
  names: ["envoy.access_loggers.file", "envoy.file_access_log"],
  parse(r) {
    for (const [field, replacement] of Object.entries(DEPRECATED_FILE_FIELDS)) {
      if (r.has(field)) {
        throw new ConfigError(r.at(field), `deprecated in Envoy and not supported by Tollgate: use ${replacement}`);
      }
    }
    const path = r.str("path", { required: true });
    return Object.freeze({ kind: "file" as const, path, format: logFormat(r, r.path) });
  },
});

registerExtension<AccessLoggerConfig>({
  category: "access_logger",
  typeUrls: [`type.googleapis.com/${envoyType("access_loggers.stream.v3.StdoutAccessLog")}`],
  names: ["envoy.access_loggers.stdout"],
  parse(r) {
    return Object.freeze({ kind: "stdout" as const, path: "/dev/stdout", format: logFormat(r, r.path) });
  },
});

registerExtension<AccessLoggerConfig>({
  category: "access_logger",
  typeUrls: [`type.googleapis.com/${envoyType("access_loggers.stream.v3.StderrAccessLog")}`],
  names: ["envoy.access_loggers.stderr"],
  parse(r) {
    return Object.freeze({ kind: "stderr" as const, path: "/dev/stderr", format: logFormat(r, r.path) });
  },
});

class AccessLoggerImpl implements AccessLogger {
  private failures = 0;

  constructor(
    readonly config: AccessLoggerConfig,
    private readonly sink: AccessLogSink,
  ) {}

  log(ctx: AccessLogContext): void {
    let line: string;
    try {
      line = this.config.format(ctx);
    } catch (err) {
      // A bad header source or metadata value must not break the request that is being logged.
      if (this.failures++ % 1000 === 0) log.error({ err, path: this.config.path }, "access log line could not be formatted");
      return;
    }
    this.sink.write(line);
  }
}

/** An AccessLogger for a parsed config (shares the destination's sink with every other logger of that path). */
export function createAccessLogger(config: AccessLoggerConfig): AccessLogger {
  const sink = config.kind === "stdout" ? sinkFor(1) : config.kind === "stderr" ? sinkFor(2) : sinkForPath(config.path);
  return new AccessLoggerImpl(config, sink);
}

/**
 * Parse a repeated config.accesslog.v3.AccessLog field (HCM `access_log`, tcp_proxy `access_log`, admin
 * `access_log`): one reader per entry, paths included. Throws ConfigError for anything Tollgate would not honour.
 */
export function parseAccessLogs(readers: readonly ConfigReader[]): AccessLogger[] {
  return readers.map((r) => {
    if (r.has("filter")) {
      throw new ConfigError(
        r.at("filter"),
        "access log filters are not supported by Tollgate (every request is logged); remove the filter",
      );
    }
    const ext = resolveExtension<AccessLoggerConfig>("access_logger", r);
    return createAccessLogger(ext.config);
  });
}
