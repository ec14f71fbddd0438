import test from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import {
  compileJsonFormat,
  compileTextFormat,
  DEFAULT_FORMAT,
  headersFromRecord,
  type AccessLogContext,
} from "../proxy/observability/access-log/index.js";

const START = Date.UTC(2021, 1, 24, 6, 30, 40, 15); // 2021-02-24T06:30:40.015Z

function ctx(over: Partial<AccessLogContext> = {}): AccessLogContext {
  return {
    startTime: START,
    requestHeaders: headersFromRecord({
      ":method": "GET",
      ":path": "/spec.json",
      ":authority": "httpbin.example.com",
      ":scheme": "https",
      "x-forwarded-for": "60.1.2.3",
      "user-agent": "Mozilla/5.0",
      "x-request-id": "7c28536b-9b2c-4c6f-a1c5-1d2b3c4d5e6f",
    }),
    responseHeaders: headersFromRecord({ "x-envoy-upstream-service-time": "5", "content-type": "application/json" }),
    responseTrailers: headersFromRecord({ "grpc-status": "0" }),
    protocol: "HTTP/1.1",
    responseCode: 200,
    responseFlags: "-",
    bytesReceived: 0,
    bytesSent: 41019,
    durationMs: 6.9,
    upstreamHost: "10.0.0.5:8080",
    upstreamCluster: "httpbin",
    downstreamRemoteAddress: "60.1.2.3:0",
    downstreamDirectRemoteAddress: "10.0.0.1:51234",
    downstreamLocalAddress: "[2001:db8::5]:443",
    routeName: "spec",
    responseCodeDetails: "via_upstream",
    dynamicMetadata: new Map([["com.test.my_filter", { test_key: "foo", test_object: { inner_key: "bar" }, n: 7 }]]),
    connectionId: 42,
    ...over,
  };
}

function render(format: string, c: AccessLogContext = ctx()): string {
  return compileTextFormat(format, "f")(c);
}

test("the default format, byte for byte", (t) => {
  t.is(
    render(DEFAULT_FORMAT),
    '[2021-02-24T06:30:40.015Z] "GET /spec.json HTTP/1.1" 200 - 0 41019 6 5 "60.1.2.3" "Mozilla/5.0" ' +
      '"7c28536b-9b2c-4c6f-a1c5-1d2b3c4d5e6f" "httpbin.example.com" "10.0.0.5:8080"\n',
  );
});

test("the default format with nothing known prints '-' for every unset value", (t) => {
  const bare: AccessLogContext = {
    startTime: START,
    responseCode: 0,
    responseFlags: "DC",
    bytesReceived: 0,
    bytesSent: 0,
    downstreamRemoteAddress: "1.2.3.4:5",
    downstreamDirectRemoteAddress: "1.2.3.4:5",
    downstreamLocalAddress: "10.0.0.1:80",
  };
  t.is(render(DEFAULT_FORMAT, bare), '[2021-02-24T06:30:40.015Z] "- - -" 0 DC 0 0 - - "-" "-" "-" "-" "-"\n');
});

test("X-ENVOY-ORIGINAL-PATH wins over :path when present", (t) => {
  const c = ctx({ requestHeaders: headersFromRecord({ ":path": "/rewritten", "x-envoy-original-path": "/original" }) });
  t.is(render("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", c), "/original");
  t.is(render("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"), "/spec.json");
});

test("header operators: names are case-insensitive, :Z truncates, aliases work", (t) => {
  t.is(render("%REQ(User-Agent)%"), "Mozilla/5.0");
  t.is(render("%REQ(USER-AGENT):4%"), "Mozi");
  t.is(render("%REQ(USER-AGENT):100%"), "Mozilla/5.0");
  t.is(render("%REQUEST_HEADER(:AUTHORITY)%"), "httpbin.example.com");
  t.is(render("%REQ(:SCHEME)% %REQ(:METHOD)%"), "https GET");
  t.is(render("%RESP(CONTENT-TYPE)% %RESPONSE_HEADER(content-type):12%"), "application/json application/");
  t.is(render("%TRAILER(GRPC-STATUS)% %RESPONSE_TRAILER(grpc-message)%"), "0 -");
  t.is(render("%REQ(X-MISSING?X-ALSO-MISSING)%"), "-");
});

test("each scalar operator", (t) => {
  const cases: Array<[string, string]> = [
    ["%PROTOCOL%", "HTTP/1.1"],
    ["%RESPONSE_CODE%", "200"],
    ["%RESPONSE_FLAGS%", "-"],
    ["%RESPONSE_CODE_DETAILS%", "via_upstream"],
    ["%BYTES_RECEIVED% %BYTES_SENT%", "0 41019"],
    ["%DURATION%", "6"],
    ["%UPSTREAM_HOST% %UPSTREAM_CLUSTER%", "10.0.0.5:8080 httpbin"],
    ["%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%", "60.1.2.3:0 60.1.2.3 0"],
    [
      "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_PORT%",
      "10.0.0.1:51234 10.0.0.1 51234",
    ],
    ["%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT%", "[2001:db8::5]:443 2001:db8::5 443"],
    ["%ROUTE_NAME%", "spec"],
    ["%CONNECTION_TERMINATION_DETAILS%", "-"],
    ["%CONNECTION_ID%", "42"],
    ["100%% done", "100% done"],
  ];
  for (const [format, expected] of cases) t.is(render(format), expected, format);
  t.is(render("%RESPONSE_FLAGS% %CONNECTION_TERMINATION_DETAILS%", ctx({ responseFlags: "UF,URX", connectionTerminationDetails: "rbac_access_denied_matched_policy[none]" })), "UF,URX rbac_access_denied_matched_policy[none]");
  t.is(render("%DURATION% %ROUTE_NAME% %UPSTREAM_HOST%", ctx({ durationMs: undefined, routeName: "", upstreamHost: undefined })), "- - -");
});

test("DYNAMIC_METADATA: namespace, nested keys, JSON for structs, truncation, '-' when absent", (t) => {
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter)%"), '{"test_key":"foo","test_object":{"inner_key":"bar"},"n":7}');
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter:test_key)%"), "foo");
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter:test_object)%"), '{"inner_key":"bar"}');
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter:test_object:inner_key)%"), "bar");
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter:n)%"), "7");
  t.is(render("%DYNAMIC_METADATA(com.unknown_filter)%"), "-");
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter:unknown_key)%"), "-");
  t.is(render("%DYNAMIC_METADATA(com.test.my_filter):12%"), '{"test_key":');
});

test("START_TIME with strftime and Envoy's extra specifiers, in UTC", (t) => {
  // Sub-millisecond digits come from the fractional part (a double near 1.6e12 ms resolves about 0.25 µs, so use a
  // fraction it holds exactly).
  const c = ctx({ startTime: START + 0.25 });
  t.is(render("%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%", c), "2021/02/24T06:30:40+0000 1614148240");
  t.is(render("%START_TIME(%s.%3f)%", c), "1614148240.015");
  t.is(render("%START_TIME(%s.%6f)%", c), "1614148240.015250");
  t.is(render("%START_TIME(%s.%9f)%", c), "1614148240.015250000");
  t.is(render("%START_TIME(%f)%", c), "015250000");
  t.is(render("%START_TIME(%e|%j|%a %b|%A %B|%p %I|%T|%F|%D|%E3S|%Z|%%)%", c), "24|055|Wed Feb|Wednesday February|AM 06|06:30:40|2021-02-24|02/24/21|40.015|UTC|%");
  t.is(render("%START_TIME%", ctx({ startTime: Date.UTC(2016, 3, 15, 20, 17, 0, 310) })), "2016-04-15T20:17:00.310Z");
});

test("START_TIME caches per second without mixing seconds up", (t) => {
  const f = compileTextFormat("%START_TIME% %START_TIME(%H:%M:%S)%", "f");
  t.is(f(ctx({ startTime: START })), "2021-02-24T06:30:40.015Z 06:30:40");
  t.is(f(ctx({ startTime: START + 999 })), "2021-02-24T06:30:41.014Z 06:30:41");
  t.is(f(ctx({ startTime: START })), "2021-02-24T06:30:40.015Z 06:30:40");
});

test("omit_empty_values prints nothing for unset operators in text", (t) => {
  const f = compileTextFormat("[%ROUTE_NAME%][%UPSTREAM_CLUSTER%]", "f", { omitEmptyValues: true });
  t.is(f(ctx({ routeName: undefined })), "[][httpbin]");
});

test("json_format: single operators keep their type, mixed values are strings, keys sorted, nested objects", (t) => {
  const f = compileJsonFormat(
    {
      status: "%RESPONSE_CODE%",
      duration: "%DURATION%",
      duration_text: "%DURATION%.0",
      protocol: "%PROTOCOL%",
      upstream: { cluster: "%UPSTREAM_CLUSTER%", host: "%UPSTREAM_HOST%" },
      meta: "%DYNAMIC_METADATA(com.test.my_filter)%",
      meta_n: "%DYNAMIC_METADATA(com.test.my_filter:n)%",
      unset: "%CONNECTION_TERMINATION_DETAILS%",
      unset_mixed: "x=%CONNECTION_TERMINATION_DETAILS%",
      start: "%START_TIME%",
      constant: "literal",
      number: 3,
      list: ["%RESPONSE_CODE%", "a"],
    },
    "f",
  );
  const line = f(ctx());
  t.true(line.endsWith("}\n"));
  t.is(
    line,
    '{"constant":"literal","duration":6,"duration_text":"6.0","list":[200,"a"],' +
      '"meta":{"test_key":"foo","test_object":{"inner_key":"bar"},"n":7},"meta_n":7,"number":3,' +
      '"protocol":"HTTP/1.1","start":"2021-02-24T06:30:40.015Z","status":200,"unset":null,"unset_mixed":"x=-",' +
      '"upstream":{"cluster":"httpbin","host":"10.0.0.5:8080"}}\n',
  );
  t.deepEqual(JSON.parse(line).status, 200);
});

test("json_format with omit_empty_values leaves out keys whose value is unset", (t) => {
  const f = compileJsonFormat({ a: "%ROUTE_NAME%", b: "%RESPONSE_CODE%", c: "pre-%ROUTE_NAME%" }, "f", { omitEmptyValues: true });
  t.is(f(ctx({ routeName: undefined })), '{"b":200,"c":"pre-"}\n');
});

test("an unknown operator is refused with the field path", (t) => {
  const err = t.throws(() => compileTextFormat("%START_TIME% %NOT_AN_OPERATOR%", "static_resources.x.log_format.text_format"), {
    instanceOf: ConfigError,
  });
  t.is(err?.path, "static_resources.x.log_format.text_format");
  t.regex(err?.message ?? "", /Not supported field in StreamInfo: NOT_AN_OPERATOR/);
  const jsonErr = t.throws(() => compileJsonFormat({ outer: { bad: "%NOPE%" } }, "a.json_format"), { instanceOf: ConfigError });
  t.is(jsonErr?.path, "a.json_format.outer.bad");
});

test("malformed commands and bad parameters are refused at config time", (t) => {
  const bad = [
    "%REQ%",
    "%REQ()%",
    "%REQ(A?B?C)%",
    "%RESPONSE_CODE(x)%",
    "%RESPONSE_CODE:5%",
    "%START_TIME(%Q)%",
    "100% sure",
    "%lowercase%",
    "%DYNAMIC_METADATA()%",
  ];
  for (const format of bad) t.throws(() => compileTextFormat(format, "p"), { instanceOf: ConfigError }, format);
});
