// The `header` permission/principal: Envoy's config.route.v3.HeaderMatcher, read into the same HeaderMatcher shape the
// route table uses, so RBAC and route matching share one evaluator (route-match.ts matchHeader) and one StringMatcher.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import type { HeaderMatcher, HeaderMatchSpec } from "../../network/http-connection-manager/route-config.js";
import { readRegexMatcher, readStringMatcher, type StringMatcher } from "../../network/http-connection-manager/string-matcher.js";

const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

export function readRbacHeaderMatcher(r: ConfigReader): HeaderMatcher {
  const raw = r.str("name", { required: true });
  if (!HEADER_NAME.test(raw)) throw new ConfigError(r.at("name"), `invalid header name ${JSON.stringify(raw)}`);
  let name = raw.toLowerCase();
  // HTTP/1's Host is the :authority pseudo-header in Envoy's header map (as in the route table's header matchers).
  if (name === "host") name = ":authority";
  const kind = r.oneof(
    ["string_match", "present_match", "range_match", "exact_match", "safe_regex_match", "prefix_match", "suffix_match", "contains_match"] as const,
    { name: "header_match_specifier" },
  );
  if (r.has("regex_match")) throw new ConfigError(r.at("regex_match"), "was removed from Envoy's API; use string_match.safe_regex");
  let spec: HeaderMatchSpec;
  switch (kind) {
    case "string_match":
      spec = { kind: "string", matcher: readStringMatcher(r.obj("string_match", { required: true })) };
      break;
    case "present_match":
      spec = { kind: "present", present: r.bool("present_match", true) };
      break;
    case "range_match": {
      const rr = r.obj("range_match", { required: true });
      const start = BigInt(rr.int("start", { default: 0 }));
      const end = BigInt(rr.int("end", { default: 0 }));
      rr.done();
      spec = { kind: "range", start, end };
      break;
    }
    // Deprecated forms still in the v3 API, mapped as Envoy maps them.
    case "exact_match":
      spec = { kind: "exact_legacy", value: r.str("exact_match") ?? "" };
      break;
    case "safe_regex_match":
      spec = {
        kind: "string",
        matcher: { kind: "safe_regex", value: "", ignoreCase: false, regex: readRegexMatcher(r.obj("safe_regex_match", { required: true })) },
      };
      break;
    case "prefix_match":
    case "suffix_match":
    case "contains_match": {
      const text = r.str(kind, { required: true });
      spec = { kind: "string", matcher: { kind: kind.replace("_match", "") as "prefix" | "suffix" | "contains", value: text, ignoreCase: false, regex: null } };
      break;
    }
    default:
      // No specifier: Envoy treats the matcher as present_match: true.
      spec = { kind: "present", present: true };
  }
  const invert = r.bool("invert_match", false);
  const treatMissingAsEmpty = r.bool("treat_missing_header_as_empty", false);
  r.done();
  return Object.freeze({ name, spec: Object.freeze(spec), invert, treatMissingAsEmpty });
}

/** `prefix "/admin"`, `exact "GET" ignore_case`, `safe_regex "^/v[0-9]+/"`: for explain(). */
export function describeStringMatcher(m: StringMatcher): string {
  if (m.regex !== null) return `safe_regex ${JSON.stringify(m.regex.source)}`;
  return `${m.kind} ${JSON.stringify(m.value)}${m.ignoreCase ? " ignore_case" : ""}`;
}

export function describeHeaderMatcher(m: HeaderMatcher): string {
  let spec: string;
  switch (m.spec.kind) {
    case "string":
      spec = describeStringMatcher(m.spec.matcher);
      break;
    case "exact_legacy":
      spec = `exact_match ${JSON.stringify(m.spec.value)}`;
      break;
    case "present":
      spec = `present_match ${m.spec.present}`;
      break;
    case "range":
      spec = `range_match [${m.spec.start}, ${m.spec.end})`;
      break;
  }
  return `header ${m.name} ${m.invert ? "not " : ""}${spec}${m.treatMissingAsEmpty ? " (missing = empty)" : ""}`;
}
