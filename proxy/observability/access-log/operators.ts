// Command operators: each compiles (config time) into a pair of functions reading an AccessLogContext.
//   text(ctx)  -> string, or null when unset (the formatter prints `-`)
//   typed(ctx) -> the JSON value for a json_format entry made of this operator alone: numbers stay numbers,
//                 metadata keeps its structure, unset is null
// Argument parsing, header-name lowercasing and truncation limits are resolved here, once.
import { hostname } from "node:os";
import { ConfigError } from "../../config/errors.js";
import type { AccessLogContext, HeaderSource } from "./context.js";
import type { CommandToken } from "./parse-format.js";
import { compileDefaultStartTime, compileTimeFormat } from "./start-time.js";

export type TypedValue = string | number | boolean | null | object;

export interface Operator {
  text(ctx: AccessLogContext): string | null;
  typed(ctx: AccessLogContext): TypedValue;
}

/** Operators Tollgate implements (Envoy has more; the others are refused with their name). */
export const SUPPORTED_OPERATORS: readonly string[] = [
  "START_TIME",
  "REQ", "REQUEST_HEADER", "RESP", "RESPONSE_HEADER", "TRAILER", "RESPONSE_TRAILER",
  "PROTOCOL", "RESPONSE_CODE", "RESPONSE_FLAGS", "RESPONSE_CODE_DETAILS",
  "BYTES_RECEIVED", "BYTES_SENT", "DURATION",
  "UPSTREAM_HOST", "UPSTREAM_CLUSTER",
  "DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_REMOTE_PORT",
  "DOWNSTREAM_DIRECT_REMOTE_ADDRESS", "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_DIRECT_REMOTE_PORT",
  "DOWNSTREAM_LOCAL_ADDRESS", "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_LOCAL_PORT",
  "ROUTE_NAME", "CONNECTION_TERMINATION_DETAILS", "DYNAMIC_METADATA", "CONNECTION_ID", "HOSTNAME",
];

function truncate(s: string, max: number | undefined): string {
  return max !== undefined && s.length > max ? s.slice(0, max) : s;
}

/** "ip:port" / "[v6]:port" -> the address without port (IPv6 without brackets), as Envoy prints it. */
export function addressWithoutPort(addr: string): string {
  if (addr.startsWith("[")) {
    const end = addr.indexOf("]");
    return end > 0 ? addr.slice(1, end) : addr;
  }
  const colon = addr.indexOf(":");
  // One colon: IPv4 "a.b.c.d:port". None: no port. More: a bare IPv6 address without port.
  if (colon < 0 || colon !== addr.lastIndexOf(":")) return addr;
  return addr.slice(0, colon);
}

/** The port of "ip:port" / "[v6]:port"; null when there is none. */
export function addressPort(addr: string): number | null {
  let portText: string;
  if (addr.startsWith("[")) {
    const end = addr.indexOf("]:");
    if (end < 0) return null;
    portText = addr.slice(end + 2);
  } else {
    const colon = addr.indexOf(":");
    if (colon < 0 || colon !== addr.lastIndexOf(":")) return null;
    portText = addr.slice(colon + 1);
  }
  const port = Number(portText);
  return portText !== "" && Number.isInteger(port) ? port : null;
}

function stringOp(get: (ctx: AccessLogContext) => string | undefined): Operator {
  const read = (ctx: AccessLogContext): string | null => {
    const v = get(ctx);
    return v === undefined || v === "" ? null : v;
  };
  return { text: read, typed: read };
}

function numberOp(get: (ctx: AccessLogContext) => number | null | undefined): Operator {
  return {
    text(ctx) {
      const v = get(ctx);
      return v === undefined || v === null ? null : String(v);
    },
    typed(ctx) {
      const v = get(ctx);
      return v === undefined || v === null ? null : v;
    },
  };
}

type AddressField = "downstreamRemoteAddress" | "downstreamDirectRemoteAddress" | "downstreamLocalAddress";

function addressOps(field: AddressField): Record<string, Operator> {
  return {
    full: stringOp((ctx) => ctx[field]),
    withoutPort: stringOp((ctx) => (ctx[field] ? addressWithoutPort(ctx[field]) : undefined)),
    port: numberOp((ctx) => (ctx[field] ? addressPort(ctx[field]) : null)),
  };
}

type HeaderField = "requestHeaders" | "responseHeaders" | "responseTrailers";

function headerOp(tok: CommandToken, field: HeaderField, path: string): Operator {
  if (tok.arg === undefined || tok.arg === "") {
    throw new ConfigError(path, `${tok.raw}: ${tok.name} needs a header name, e.g. %${tok.name}(USER-AGENT)%`);
  }
  const names = tok.arg.split("?");
  if (names.length > 2) {
    throw new ConfigError(path, `${tok.raw}: More than 1 alternative header specified in token: ${tok.arg}`);
  }
  if (names.some((n) => n === "")) throw new ConfigError(path, `${tok.raw}: empty header name`);
  // Lowercased once here: the header source is asked with lowercase names.
  const main = names[0].toLowerCase();
  const alt = names.length === 2 ? names[1].toLowerCase() : undefined;
  const max = tok.maxLength;
  // One closure per header map, reading the field directly: a computed `ctx[field]` is a slower keyed load.
  const source: (ctx: AccessLogContext) => HeaderSource | null | undefined =
    field === "requestHeaders"
      ? (ctx) => ctx.requestHeaders
      : field === "responseHeaders"
        ? (ctx) => ctx.responseHeaders
        : (ctx) => ctx.responseTrailers;
  const read =
    alt === undefined
      ? (ctx: AccessLogContext): string | null => {
          const v = source(ctx)?.get(main);
          return v === undefined || v === null ? null : max === undefined ? v : truncate(v, max);
        }
      : (ctx: AccessLogContext): string | null => {
          const src = source(ctx);
          if (!src) return null;
          let v = src.get(main);
          if (v === undefined || v === null) v = src.get(alt);
          return v === undefined || v === null ? null : max === undefined ? v : truncate(v, max);
        };
  return { text: read, typed: read };
}

function metadataOp(tok: CommandToken, path: string): Operator {
  if (tok.arg === undefined || tok.arg === "") {
    throw new ConfigError(path, `${tok.raw}: DYNAMIC_METADATA needs a namespace, e.g. %DYNAMIC_METADATA(envoy.filters.http.rbac)%`);
  }
  const [ns, ...keys] = tok.arg.split(":");
  if (ns === "" || keys.some((k) => k === "")) throw new ConfigError(path, `${tok.raw}: empty namespace or key`);
  const max = tok.maxLength;
  const lookup = (ctx: AccessLogContext): unknown => {
    let v: unknown = ctx.dynamicMetadata?.get(ns);
    for (const k of keys) {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
  return {
    text(ctx) {
      const v = lookup(ctx);
      if (v === undefined || v === null) return null;
      return truncate(typeof v === "string" ? v : JSON.stringify(v), max);
    },
    typed(ctx) {
      const v = lookup(ctx);
      return v === undefined ? null : (v as TypedValue);
    },
  };
}

function noArgs(tok: CommandToken, path: string): void {
  if (tok.arg !== undefined) throw new ConfigError(path, `${tok.raw}: ${tok.name} takes no parameters`);
  if (tok.maxLength !== undefined) throw new ConfigError(path, `${tok.raw}: ${tok.name} takes no length limit`);
}

/** Compile one command token. Throws ConfigError (with `path`) for an unknown operator or bad parameters. */
export function compileOperator(tok: CommandToken, path: string): Operator {
  switch (tok.name) {
    case "REQ":
    case "REQUEST_HEADER":
      return headerOp(tok, "requestHeaders", path);
    case "RESP":
    case "RESPONSE_HEADER":
      return headerOp(tok, "responseHeaders", path);
    case "TRAILER":
    case "RESPONSE_TRAILER":
      return headerOp(tok, "responseTrailers", path);
    case "DYNAMIC_METADATA":
      return metadataOp(tok, path);
    case "START_TIME": {
      if (tok.maxLength !== undefined) throw new ConfigError(path, `${tok.raw}: START_TIME takes no length limit`);
      const fmt = tok.arg === undefined || tok.arg === "" ? compileDefaultStartTime() : compileTimeFormat(tok.arg, path);
      // In JSON, START_TIME is always a string (Envoy's rule).
      const read = (ctx: AccessLogContext): string => fmt(ctx.startTime);
      return { text: read, typed: read };
    }
  }
  noArgs(tok, path);
  switch (tok.name) {
    case "PROTOCOL":
      return stringOp((ctx) => ctx.protocol);
    case "RESPONSE_CODE":
      return numberOp((ctx) => ctx.responseCode);
    case "RESPONSE_FLAGS":
      return stringOp((ctx) => ctx.responseFlags || "-");
    case "RESPONSE_CODE_DETAILS":
      return stringOp((ctx) => ctx.responseCodeDetails);
    case "BYTES_RECEIVED":
      return numberOp((ctx) => ctx.bytesReceived);
    case "BYTES_SENT":
      return numberOp((ctx) => ctx.bytesSent);
    case "DURATION":
      // Envoy casts the duration to whole milliseconds (truncation).
      return numberOp((ctx) => (ctx.durationMs === undefined ? null : Math.floor(ctx.durationMs)));
    case "UPSTREAM_HOST":
      return stringOp((ctx) => ctx.upstreamHost);
    case "UPSTREAM_CLUSTER":
      return stringOp((ctx) => ctx.upstreamCluster);
    case "DOWNSTREAM_REMOTE_ADDRESS":
      return addressOps("downstreamRemoteAddress").full;
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      return addressOps("downstreamRemoteAddress").withoutPort;
    case "DOWNSTREAM_REMOTE_PORT":
      return addressOps("downstreamRemoteAddress").port;
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS":
      return addressOps("downstreamDirectRemoteAddress").full;
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT":
      return addressOps("downstreamDirectRemoteAddress").withoutPort;
    case "DOWNSTREAM_DIRECT_REMOTE_PORT":
      return addressOps("downstreamDirectRemoteAddress").port;
    case "DOWNSTREAM_LOCAL_ADDRESS":
      return addressOps("downstreamLocalAddress").full;
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
      return addressOps("downstreamLocalAddress").withoutPort;
    case "DOWNSTREAM_LOCAL_PORT":
      return addressOps("downstreamLocalAddress").port;
    case "ROUTE_NAME":
      return stringOp((ctx) => ctx.routeName);
    case "CONNECTION_TERMINATION_DETAILS":
      return stringOp((ctx) => ctx.connectionTerminationDetails);
    case "CONNECTION_ID":
      return numberOp((ctx) => ctx.connectionId);
    case "HOSTNAME": {
      const name = hostname();
      return { text: () => name, typed: () => name };
    }
  }
  throw new ConfigError(path, `Not supported field in StreamInfo: ${tok.name} (${tok.raw} is not an operator Tollgate implements)`);
}
