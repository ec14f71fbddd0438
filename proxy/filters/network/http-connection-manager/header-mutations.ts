// request_headers_to_add / _to_remove and response_headers_to_add / _to_remove (Envoy's HeaderParser) at route,
// virtual host and route-configuration level. Values are static text: Envoy's %FORMATTER% substitutions are refused
// at config time for now ("%%" is the escaped literal "%" and is supported).
import { Buffer } from "node:buffer";
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import type { HeaderEntries } from "./request-headers.js";

export type AppendAction = "APPEND_IF_EXISTS_OR_ADD" | "ADD_IF_ABSENT" | "OVERWRITE_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS";
const APPEND_ACTIONS = ["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"] as const;

export interface HeaderToAdd {
  readonly name: string;
  readonly value: string;
  readonly action: AppendAction;
}

/** One level's mutation: removals happen first, then additions in order (HeaderParser::evaluateHeaders). */
export interface HeaderMutation {
  readonly remove: readonly string[];
  readonly add: readonly HeaderToAdd[];
}

// Envoy's well-known HTTP_HEADER_NAME / HTTP_HEADER_VALUE (strict: false) validation.
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const BAD_VALUE = /[\0\r\n]/;

function checkName(name: string, path: string): string {
  if (!HEADER_NAME.test(name)) throw new ConfigError(path, `invalid header name ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

/** Header names Envoy never lets configuration modify (HeaderUtility::isModifiableHeader). */
function modifiable(name: string): boolean {
  return !name.startsWith(":") && name !== "host";
}

/** Static header value: "%%" is a literal "%"; any other "%" starts a formatter, which is not supported yet. */
function staticValue(raw: string, path: string): string {
  if (!raw.includes("%")) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== "%") {
      out += raw[i];
      continue;
    }
    if (raw[i + 1] === "%") {
      out += "%";
      i++;
      continue;
    }
    throw new ConfigError(
      path,
      `header value ${JSON.stringify(raw)} uses a %...% formatter; Tollgate supports only static values here for now (write %% for a literal %)`,
    );
  }
  return out;
}

function readHeaderValueOption(r: ConfigReader): HeaderToAdd | null {
  const h = r.obj("header", { required: true });
  const name = checkName(h.str("key", { required: true }), h.at("key"));
  if (!modifiable(name)) throw new ConfigError(h.at("key"), `':-prefixed' or host headers may not be modified (${name})`);
  const kind = h.oneof(["value", "raw_value"] as const);
  let raw = "";
  if (kind === "raw_value") {
    const b64 = h.str("raw_value") as string;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new ConfigError(h.at("raw_value"), "expected base64 bytes");
    raw = Buffer.from(b64, "base64").toString("latin1");
  } else {
    raw = h.str("value") ?? "";
  }
  h.done();
  const valuePath = h.at(kind ?? "value");
  if (raw.length > 16384) throw new ConfigError(valuePath, "header value longer than 16384 bytes");
  if (BAD_VALUE.test(raw)) throw new ConfigError(valuePath, "header value must not contain NUL, CR or LF");
  const value = staticValue(raw, valuePath);

  if (r.has("append") && r.has("append_action")) {
    throw new ConfigError(r.path, "Both append and append_action are set and it's not allowed");
  }
  let action: AppendAction = "APPEND_IF_EXISTS_OR_ADD";
  if (r.has("append")) {
    const a = r.raw("append");
    const v = a !== null && typeof a === "object" && !Array.isArray(a) ? (a as { value?: unknown }).value : a;
    if (typeof v !== "boolean") throw new ConfigError(r.at("append"), "expected true or false");
    action = v ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD";
  } else {
    action = r.enum("append_action", APPEND_ACTIONS, "APPEND_IF_EXISTS_OR_ADD");
  }
  const keepEmpty = r.bool("keep_empty_value", false);
  r.done();
  // An empty value adds nothing unless keep_empty_value (Envoy skips it per request; static values skip now).
  if (value === "" && !keepEmpty) return null;
  return Object.freeze({ name, value, action });
}

/** Read `<prefix>_headers_to_add` and `<prefix>_headers_to_remove` (prefix "request" or "response"). */
export function readHeaderMutation(r: ConfigReader, prefix: "request" | "response"): HeaderMutation | null {
  const addKey = `${prefix}_headers_to_add`;
  const removeKey = `${prefix}_headers_to_remove`;
  const add: HeaderToAdd[] = [];
  for (const item of r.objList(addKey)) {
    const h = readHeaderValueOption(item);
    if (h) add.push(h);
  }
  const remove = r.strList(removeKey).map((n, i) => {
    const p = `${r.at(removeKey)}[${i}]`;
    const name = checkName(n, p);
    if (!modifiable(name)) throw new ConfigError(p, `':-prefixed' or host headers may not be removed (${name})`);
    return name;
  });
  if (add.length === 0 && remove.length === 0) return null;
  return Object.freeze({ remove: Object.freeze(remove), add: Object.freeze(add) });
}

function removeAll(headers: HeaderEntries, name: string): void {
  let w = 0;
  for (let i = 0; i < headers.length; i++) if (headers[i][0] !== name) headers[w++] = headers[i];
  headers.length = w;
}

function has(headers: HeaderEntries, name: string): boolean {
  for (let i = 0; i < headers.length; i++) if (headers[i][0] === name) return true;
  return false;
}

/** Apply one level's mutation to a header list in place. */
export function applyHeaderMutation(headers: HeaderEntries, m: HeaderMutation | null): void {
  if (m === null) return;
  for (const name of m.remove) removeAll(headers, name);
  for (const h of m.add) {
    switch (h.action) {
      case "APPEND_IF_EXISTS_OR_ADD":
        headers.push([h.name, h.value]);
        break;
      case "ADD_IF_ABSENT":
        if (!has(headers, h.name)) headers.push([h.name, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        removeAll(headers, h.name);
        headers.push([h.name, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (has(headers, h.name)) {
          removeAll(headers, h.name);
          headers.push([h.name, h.value]);
        }
        break;
    }
  }
}
