// Envoy's RateLimit policy (config.route.v3.RateLimit): the route's (and virtual host's) `rate_limits`, or the
// local rate-limit filter's own `rate_limits`. Each entry turns a request into one descriptor by running its
// actions in order (router_ratelimit.cc): an action that cannot produce its entry drops the whole descriptor,
// except request_headers with skip_if_absent, which just adds nothing.
//
// Parsed at config time into plain objects; populate() per request only reads headers and the stream.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import type { HeaderMatcher } from "../../network/http-connection-manager/route-config.js";
import { matchHeader } from "../../network/http-connection-manager/route-match.js";
import type { DescriptorEntry, RequestDescriptor } from "./descriptors.js";

export type RateLimitAction =
  | { readonly kind: "remote_address" }
  | { readonly kind: "destination_cluster" }
  | { readonly kind: "request_headers"; readonly headerName: string; readonly descriptorKey: string; readonly skipIfAbsent: boolean }
  | { readonly kind: "generic_key"; readonly descriptorKey: string; readonly descriptorValue: string }
  | {
      readonly kind: "header_value_match";
      readonly descriptorKey: string;
      readonly descriptorValue: string;
      readonly expectMatch: boolean;
      readonly headers: readonly HeaderMatcher[];
    };

export interface RateLimitPolicyEntry {
  /** 0..10: only the entries of the filter's stage apply. */
  readonly stage: number;
  /** Envoy skips entries with a disable_key in the local filter (a runtime feature it has no runtime for here). */
  readonly disableKey: string;
  readonly actions: readonly RateLimitAction[];
}

/** The request as rate-limit actions see it. */
export interface RateLimitRequest {
  /** Header lookup: first value, lower-case name, pseudo-headers (:path, :authority, :method) included. */
  header(name: string): string | undefined;
  /** All values joined with "," (HeaderUtility::getAllOfHeaderAsString), for header matchers. */
  headerJoined(name: string): string | undefined;
  /** The trusted client address (stream.clientAddress.ip). */
  readonly clientIp: string;
  /** The route's cluster (destination_cluster); null when the route has none. */
  readonly cluster: string | null;
}

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const ACTIONS = [
  "source_cluster",
  "destination_cluster",
  "request_headers",
  "remote_address",
  "generic_key",
  "header_value_match",
  "dynamic_metadata",
  "metadata",
  "extension",
  "masked_remote_address",
  "query_parameter_value_match",
  "query_parameters",
] as const;

function readAction(a: ConfigReader, readHeaderMatcher: (r: ConfigReader) => HeaderMatcher): RateLimitAction {
  const kind = a.oneof(ACTIONS, { required: true, name: "action_specifier" });
  let action: RateLimitAction;
  switch (kind) {
    case "remote_address":
    case "destination_cluster": {
      a.obj(kind, { required: true })?.done();
      action = { kind };
      break;
    }
    case "request_headers": {
      const h = a.obj(kind, { required: true });
      const name = h.str("header_name", { required: true });
      if (!HEADER_NAME.test(name)) throw new ConfigError(h.at("header_name"), `invalid header name ${JSON.stringify(name)}`);
      let headerName = name.toLowerCase();
      if (headerName === "host") headerName = ":authority";
      const descriptorKey = h.str("descriptor_key", { required: true });
      const skipIfAbsent = h.bool("skip_if_absent", false);
      h.done();
      action = { kind, headerName, descriptorKey, skipIfAbsent };
      break;
    }
    case "generic_key": {
      const g = a.obj(kind, { required: true });
      const descriptorValue = g.str("descriptor_value", { required: true });
      const descriptorKey = g.str("descriptor_key") || "generic_key";
      g.done();
      action = { kind, descriptorKey, descriptorValue };
      break;
    }
    case "header_value_match": {
      const m = a.obj(kind, { required: true });
      const descriptorValue = m.str("descriptor_value", { required: true });
      const descriptorKey = m.str("descriptor_key") || "header_match";
      const expectMatch = readBoolValue(m, "expect_match", true);
      const headers = m.objList("headers", { minItems: 1 }).map((h) => readHeaderMatcher(h));
      m.done();
      action = { kind, descriptorKey, descriptorValue, expectMatch, headers: Object.freeze(headers) };
      break;
    }
    case "masked_remote_address":
      throw new ConfigError(
        a.at(kind),
        "is not supported by Tollgate; use remote_address with a per-client descriptor and the Tollgate type's ipv4_prefix_len / ipv6_prefix_len",
      );
    case "source_cluster":
      throw new ConfigError(a.at(kind), "is not supported by Tollgate (there is no node.cluster / local service cluster)");
    default:
      throw new ConfigError(a.at(kind as string), "is not supported by Tollgate's rate-limit actions yet");
  }
  a.done();
  return Object.freeze(action);
}

/** google.protobuf.BoolValue as plain JSON or {value}. */
export function readBoolValue(r: ConfigReader, key: string, def: boolean): boolean {
  const v = r.raw(key);
  if (v === undefined) return def;
  const inner = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as { value?: unknown }).value : v;
  if (inner === undefined && typeof v === "object") return false; // {} is BoolValue{value: false}
  if (typeof inner !== "boolean") throw new ConfigError(r.at(key), "expected true or false");
  return inner;
}

/**
 * Read a list of RateLimit messages. `readHeaderMatcher` is the route table's (config.route.v3.HeaderMatcher),
 * passed in so that this module does not import the route-config parser that imports it.
 */
export function readRateLimitPolicies(list: ConfigReader[], readHeaderMatcher: (r: ConfigReader) => HeaderMatcher): readonly RateLimitPolicyEntry[] {
  return Object.freeze(
    list.map((r) => {
      const stage = r.int("stage", { default: 0, min: 0, max: 10 });
      const disableKey = r.str("disable_key") ?? "";
      const actions = r.objList("actions", { minItems: 1 }).map((a) => readAction(a, readHeaderMatcher));
      for (const k of ["limit", "hits_addend", "apply_on_stream_done", "x_ratelimit_option"]) {
        if (r.has(k)) throw new ConfigError(r.at(k), "is not supported by Tollgate's local rate limiting");
      }
      r.done();
      return Object.freeze({ stage, disableKey, actions: Object.freeze(actions) });
    }),
  );
}

function runAction(a: RateLimitAction, req: RateLimitRequest, out: DescriptorEntry[]): boolean {
  switch (a.kind) {
    case "remote_address":
      // Envoy requires an IP address (a pipe peer has none); the trusted client address is one or empty.
      if (req.clientIp === "") return false;
      out.push({ key: "remote_address", value: req.clientIp });
      return true;
    case "destination_cluster":
      if (req.cluster === null) return false;
      out.push({ key: "destination_cluster", value: req.cluster });
      return true;
    case "request_headers": {
      const v = req.header(a.headerName);
      if (v === undefined) return a.skipIfAbsent;
      out.push({ key: a.descriptorKey, value: v });
      return true;
    }
    case "generic_key":
      out.push({ key: a.descriptorKey, value: a.descriptorValue });
      return true;
    case "header_value_match": {
      let all = true;
      for (const h of a.headers) {
        if (!matchHeader(h, req.headerJoined(h.name))) {
          all = false;
          break;
        }
      }
      if (all !== a.expectMatch) return false;
      out.push({ key: a.descriptorKey, value: a.descriptorValue });
      return true;
    }
  }
}

/** Append the descriptors of the policy entries of `stage` to `out` (RateLimitPolicyEntryImpl::populateDescriptors). */
export function populateDescriptors(
  policies: readonly RateLimitPolicyEntry[],
  stage: number,
  req: RateLimitRequest,
  out: RequestDescriptor[],
): void {
  for (const p of policies) {
    if (p.stage !== stage || p.disableKey !== "") continue;
    const entries: DescriptorEntry[] = [];
    let ok = true;
    for (const a of p.actions) {
      if (!runAction(a, req, entries)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push(entries);
  }
}
