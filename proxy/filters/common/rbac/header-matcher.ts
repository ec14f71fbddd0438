// The `header` permission/principal is Envoy's config.route.v3.HeaderMatcher: read by the route table's reader
// (route-config.ts readHeaderMatcher) so RBAC and route matching share one parser, one evaluator (route-match.ts
// matchHeader) and one StringMatcher. This file only describes matchers for explain().
import type { HeaderMatcher } from "../../network/http-connection-manager/route-config.js";
import type { StringMatcher } from "../../network/http-connection-manager/string-matcher.js";

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
