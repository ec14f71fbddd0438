// `/logging` as Envoy's LogsHandler: no parameter lists the loggers; `?level=<l>` sets all; `?<name>=<l>` sets one;
// `?paths=<name>:<l>,<name>:<l>` sets several (all or none). Errors answer 400 with Envoy's usage text, and the
// listing follows in every case.
import {
  ENVOY_LOG_LEVELS,
  hasLogger,
  listLoggers,
  setComponentLogLevel,
  setLogLevel,
  toPinoLevel,
} from "../observability/logger.js";
import type { Query } from "./query.js";
import { text, type AdminResponse } from "./response.js";

function isLevel(l: string): boolean {
  try {
    toPinoLevel(l);
    return true;
  } catch {
    return false;
  }
}

function change(query: Query): string | null {
  if (query.size !== 1) return "invalid number of parameters";
  const [[key, value]] = [...query];
  if (key === "level") {
    if (!isLevel(value)) return "unknown logger level";
    setLogLevel(value);
    return null;
  }
  const changes: Array<[string, string]> = [];
  if (key === "paths") {
    for (const pair of value.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const colon = pair.indexOf(":");
      const name = colon < 0 ? pair : pair.slice(0, colon).trim();
      const level = colon < 0 ? "" : pair.slice(colon + 1).trim();
      if (name === "" || level === "") return "empty logger name or empty logger level";
      changes.push([name, level]);
    }
  } else {
    changes.push([key, value]);
  }
  for (const [name, level] of changes) {
    if (!isLevel(level)) return "unknown logger level";
    if (!hasLogger(name)) return "unknown logger name";
  }
  for (const [name, level] of changes) setComponentLogLevel(name, level);
  return null;
}

function listing(): string {
  let s = "active loggers:\n";
  for (const l of listLoggers()) s += `  ${l.name}: ${l.level}\n`;
  return `${s}\n`;
}

export function handleLogging(query: Query): AdminResponse {
  if (query.size === 0) return text(listing());
  const error = change(query);
  if (error === null) return text(listing());
  const usage =
    `error: ${error}\n\n` +
    "usage: /logging?<name>=<level> (change single level)\n" +
    "usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n" +
    "usage: /logging?level=<level> (change all levels)\n" +
    `levels: ${ENVOY_LOG_LEVELS.map((l) => `${l} `).join("")}\n`;
  return text(usage + listing(), 400);
}
