// Envoy access log formats compiled, once at config time, into a function AccessLogContext -> line.
//
// Text formats (`text_format`, `text_format_source.inline_string`, the default format): literal text and operators
// in order; an unset operator prints `-` (`""` with omit_empty_values). No newline is added: the format carries it.
// JSON formats (`json_format`): a Struct whose string values may hold operators. A value that is exactly one
// operator keeps its type (numbers stay numbers, metadata keeps its structure, unset is null); a value mixing text
// and operators is a string with `-` for unset parts. Keys are sorted (Envoy always sorts them) and the line ends
// with "\n". With omit_empty_values, keys whose value is null are left out.
import type { Json } from "../../config/reader.js";
import { ConfigError } from "../../config/errors.js";
import type { AccessLogContext } from "./context.js";
import { compileOperator, type Operator } from "./operators.js";
import { tokenize } from "./parse-format.js";

export type CompiledFormat = (ctx: AccessLogContext) => string;

/** Envoy's default access log format (a text format; note the trailing newline). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% " +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

export interface FormatOptions {
  omitEmptyValues: boolean;
}

type Part = string | Operator;

function compileParts(format: string, path: string): Part[] {
  return tokenize(format, path).map((t) => (t.kind === "text" ? t.text : compileOperator(t, path)));
}

/** Render parts as text; the loop is the per-line cost of a text format. */
function renderParts(parts: readonly Part[], ctx: AccessLogContext, unset: string): string {
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (typeof p === "string") {
      out += p;
    } else {
      const v = p.text(ctx);
      out += v === null ? unset : v;
    }
  }
  return out;
}

/** A text format. Throws ConfigError (at `path`) for an unknown operator or a malformed command. */
export function compileTextFormat(format: string, path: string, opts: FormatOptions = { omitEmptyValues: false }): CompiledFormat {
  const parts = compileParts(format, path);
  const unset = opts.omitEmptyValues ? "" : "-";
  if (parts.every((p) => typeof p === "string")) {
    const constant = parts.join("");
    return () => constant;
  }
  return (ctx) => renderParts(parts, ctx, unset);
}

/** A JSON value renderer: returns the JSON text, or undefined for "omit this key". */
type JsonNode = (ctx: AccessLogContext) => string | undefined;

function typedToJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  return JSON.stringify(v) ?? "null";
}

function compileJsonValue(value: Json, path: string, opts: FormatOptions): JsonNode {
  if (value === null || typeof value === "number" || typeof value === "boolean") {
    const constant = JSON.stringify(value);
    return () => constant;
  }
  if (typeof value === "string") {
    const parts = compileParts(value, path);
    if (parts.length === 1 && typeof parts[0] !== "string") {
      const op = parts[0];
      return (ctx) => {
        const v = op.typed(ctx);
        return v === null && opts.omitEmptyValues ? undefined : typedToJson(v);
      };
    }
    if (parts.every((p) => typeof p === "string")) {
      const constant = JSON.stringify(parts.join(""));
      return () => constant;
    }
    const unset = opts.omitEmptyValues ? "" : "-";
    return (ctx) => JSON.stringify(renderParts(parts, ctx, unset));
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileJsonValue(v, `${path}[${i}]`, opts));
    return (ctx) => `[${items.map((item) => item(ctx) ?? "null").join(",")}]`;
  }
  // An object: keys sorted once here; each key's JSON text precomputed.
  const keys = Object.keys(value).sort();
  const entries = keys.map((k) => ({ key: `${JSON.stringify(k)}:`, node: compileJsonValue(value[k], `${path}.${k}`, opts) }));
  return (ctx) => {
    let out = "{";
    let first = true;
    for (let i = 0; i < entries.length; i++) {
      const v = entries[i].node(ctx);
      if (v === undefined) continue;
      out += first ? entries[i].key + v : `,${entries[i].key}${v}`;
      first = false;
    }
    return `${out}}`;
  };
}

/** A json_format Struct. Throws ConfigError (at the offending key's path). */
export function compileJsonFormat(struct: Json, path: string, opts: FormatOptions = { omitEmptyValues: false }): CompiledFormat {
  if (struct === null || typeof struct !== "object" || Array.isArray(struct)) {
    throw new ConfigError(path, "json_format must be an object (a google.protobuf.Struct)");
  }
  const root = compileJsonValue(struct, path, opts);
  return (ctx) => `${root(ctx) ?? "{}"}\n`;
}
