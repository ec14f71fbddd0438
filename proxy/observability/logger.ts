// Application logs: pino JSON on stderr. (Access logs are separate and use Envoy's format: see access-log/.)
//
// Levels use Envoy's names at the edges (CLI `-l`, admin `/logging`): trace, debug, info, warning (or warn), error,
// critical, off. Internally they map to pino's trace, debug, info, warn, error, fatal, silent.
//
// Envoy has named loggers (`admin`, `upstream`, ...) whose levels `/logging?<name>=<level>` changes one by one.
// `componentLogger(name)` gives the same: a pino child tagged `{component: name}` whose level is tracked here,
// because a pino child does not follow later level changes of its parent.
import { pino, type Logger } from "pino";

export type EnvoyLogLevel = "trace" | "debug" | "info" | "warning" | "error" | "critical" | "off";

/** The level names `/logging` and `-l` accept, in Envoy's order. `warn` is accepted as an alias of `warning`. */
export const ENVOY_LOG_LEVELS: readonly EnvoyLogLevel[] = ["trace", "debug", "info", "warning", "error", "critical", "off"];

const TO_PINO: Readonly<Record<string, pino.LevelWithSilent>> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  warn: "warn",
  error: "error",
  critical: "fatal",
  off: "silent",
};

const FROM_PINO: Readonly<Record<string, EnvoyLogLevel>> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
  fatal: "critical",
  silent: "off",
};

export class LogLevelError extends Error {
  readonly code = "TOLLGATE_LOG_LEVEL_INVALID";
}

/** Envoy level name (or alias `warn`) to pino's; throws LogLevelError for anything else. */
export function toPinoLevel(level: string): pino.LevelWithSilent {
  const p = TO_PINO[level];
  if (p === undefined) {
    throw new LogLevelError(`unknown log level '${level}': expected one of ${ENVOY_LOG_LEVELS.join(", ")} (or warn)`);
  }
  return p;
}

function initialLevel(): pino.LevelWithSilent {
  const env = process.env.TOLLGATE_LOG_LEVEL;
  if (env === undefined || env === "") return "info";
  const p = TO_PINO[env];
  // A bad environment value must not stop the process before it can say why: fall back to info and say so below.
  return p ?? "info";
}

/** The root application logger. Async writes to fd 2; pino flushes synchronously on process exit. */
export const logger: Logger = pino(
  { level: initialLevel(), base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ dest: 2, sync: false }),
);

if (process.env.TOLLGATE_LOG_LEVEL && TO_PINO[process.env.TOLLGATE_LOG_LEVEL] === undefined) {
  logger.warn({ value: process.env.TOLLGATE_LOG_LEVEL }, "TOLLGATE_LOG_LEVEL is not a known level; using info");
}

const ROOT_NAME = "tollgate";
const components = new Map<string, Logger>();

/** A named logger (`upstream`, `admin`, `config`, ...). The same name returns the same logger. */
export function componentLogger(name: string): Logger {
  let child = components.get(name);
  if (child === undefined) {
    child = logger.child({ component: name });
    child.level = logger.level;
    components.set(name, child);
  }
  return child;
}

/** Set every logger (root and components) to `level` (Envoy's names). Throws LogLevelError for an unknown level. */
export function setLogLevel(level: string): void {
  const p = toPinoLevel(level);
  logger.level = p;
  for (const child of components.values()) child.level = p;
}

/** The root logger's level, as Envoy names it. */
export function getLogLevel(): EnvoyLogLevel {
  return FROM_PINO[logger.level] ?? "info";
}

/** Set one named logger's level. Returns false when no logger has that name. */
export function setComponentLogLevel(name: string, level: string): boolean {
  const p = toPinoLevel(level);
  if (name === ROOT_NAME) {
    logger.level = p;
    return true;
  }
  const child = components.get(name);
  if (child === undefined) return false;
  child.level = p;
  return true;
}

/** All loggers with their levels (Envoy's names), sorted by name: what `/logging` lists. */
export function listLoggers(): Array<{ name: string; level: EnvoyLogLevel }> {
  const out = [{ name: ROOT_NAME, level: getLogLevel() }];
  for (const [name, child] of components) out.push({ name, level: FROM_PINO[child.level] ?? "info" });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether `name` names a logger (`tollgate` or a component). */
export function hasLogger(name: string): boolean {
  return name === ROOT_NAME || components.has(name);
}
