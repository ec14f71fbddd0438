// Envoy-format access logs: the context callers fill, the format compiler, the loggers and their destinations.
export type { AccessLogContext, HeaderSource } from "./context.js";
export { headersFromRecord } from "./context.js";
export { compileJsonFormat, compileTextFormat, DEFAULT_FORMAT, type CompiledFormat } from "./formatter.js";
export { SUPPORTED_OPERATORS } from "./operators.js";
export { parseSubstitutionFormat } from "./substitution-format.js";
export { createAccessLogger, parseAccessLogs, type AccessLogger, type AccessLoggerConfig } from "./config.js";
export { closeAccessLogs, flushAccessLogs, reopenAccessLogs } from "./sinks.js";
