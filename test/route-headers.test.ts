// request/response_headers_to_add and _to_remove: append actions and the order of levels.
import test from "ava";
import { ConfigReader } from "../proxy/config/reader.js";
import { parse as parseYaml } from "yaml";
import { applyHeaderMutation, readHeaderMutation } from "../proxy/filters/network/http-connection-manager/header-mutations.js";
import { parseRouteConfiguration } from "../proxy/filters/network/http-connection-manager/route-config.js";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, selectRoute } from "../proxy/filters/network/http-connection-manager/route-match.js";
import type { HeaderEntries } from "../proxy/filters/network/http-connection-manager/request-headers.js";

function mutation(obj: object) {
  const r = new ConfigReader(obj, "x");
  const m = readHeaderMutation(r, "request");
  r.done();
  return m;
}

function apply(obj: object, headers: HeaderEntries): HeaderEntries {
  applyHeaderMutation(headers, mutation(obj));
  return headers;
}

test("append actions: APPEND_IF_EXISTS_OR_ADD (default), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS", (t) => {
  const add = (action: string | undefined, headers: HeaderEntries) =>
    apply({ request_headers_to_add: [{ header: { key: "X-A", value: "new" }, ...(action ? { append_action: action } : {}) }] }, headers);
  t.deepEqual(add(undefined, [["x-a", "old"]]), [["x-a", "old"], ["x-a", "new"]]);
  t.deepEqual(add("APPEND_IF_EXISTS_OR_ADD", []), [["x-a", "new"]]);
  t.deepEqual(add("ADD_IF_ABSENT", [["x-a", "old"]]), [["x-a", "old"]]);
  t.deepEqual(add("ADD_IF_ABSENT", []), [["x-a", "new"]]);
  t.deepEqual(add("OVERWRITE_IF_EXISTS_OR_ADD", [["x-a", "1"], ["x-b", "b"], ["x-a", "2"]]), [["x-b", "b"], ["x-a", "new"]]);
  t.deepEqual(add("OVERWRITE_IF_EXISTS_OR_ADD", []), [["x-a", "new"]]);
  t.deepEqual(add("OVERWRITE_IF_EXISTS", [["x-a", "old"]]), [["x-a", "new"]]);
  t.deepEqual(add("OVERWRITE_IF_EXISTS", []), []);
});

test("the deprecated append flag maps to APPEND_IF_EXISTS_OR_ADD / OVERWRITE_IF_EXISTS_OR_ADD", (t) => {
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x", value: "n" }, append: false }] }, [["x", "o"]]), [["x", "n"]]);
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x", value: "n" }, append: true }] }, [["x", "o"]]), [["x", "o"], ["x", "n"]]);
});

test("removals happen before additions; empty values are skipped unless keep_empty_value", (t) => {
  t.deepEqual(
    apply({ request_headers_to_remove: ["X-Gone", "x-a"], request_headers_to_add: [{ header: { key: "x-a", value: "1" } }] }, [["x-gone", "g"], ["x-a", "0"]]),
    [["x-a", "1"]],
  );
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x-e", value: "" } }] }, []), []);
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x-e", value: "" }, keep_empty_value: true }] }, []), [["x-e", ""]]);
});

test("'%%' is a literal percent sign; raw_value is base64", (t) => {
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x", value: "100%%" } }] }, []), [["x", "100%"]]);
  t.deepEqual(apply({ request_headers_to_add: [{ header: { key: "x", raw_value: Buffer.from("raw").toString("base64") } }] }, []), [["x", "raw"]]);
});

test("no lists means no mutation object", (t) => {
  t.is(mutation({}), null);
});

function levels(mostSpecificWins: boolean) {
  return parseRouteConfiguration(
    new ConfigReader(
      parseYaml(`
most_specific_header_mutations_wins: ${mostSpecificWins}
request_headers_to_add: [{header: {key: x-level, value: global}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
response_headers_to_add: [{header: {key: x-level, value: global}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
virtual_hosts:
- name: v
  domains: ["*"]
  request_headers_to_add: [{header: {key: x-level, value: vhost}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
  routes:
  - match: {prefix: "/"}
    route: {cluster: c}
    request_headers_to_add: [{header: {key: x-level, value: route}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}]
    response_headers_to_add: [{header: {key: x-level, value: route}}]
`),
      "route_config",
    ),
  );
}

test("levels apply route, vhost, global (global wins) unless most_specific_header_mutations_wins", (t) => {
  for (const [wins, expected] of [[false, "global"], [true, "route"]] as const) {
    const table = levels(wins);
    const sel = selectRoute(table, "h", "/", [])!;
    const req: HeaderEntries = [];
    applyRequestHeaderMutations(table, sel, req);
    t.deepEqual(req, [["x-level", expected]]);
  }
  const table = levels(false);
  const res: HeaderEntries = [];
  applyResponseHeaderMutations(table, selectRoute(table, "h", "/", [])!, res);
  t.deepEqual(res, [["x-level", "global"]]);
});
