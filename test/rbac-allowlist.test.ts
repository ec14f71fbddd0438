// The ip_allowlist_file RBAC principal, without sockets: the file format (comments, blanks, bare addresses, IPv6,
// host bits, mapped IPv4), the configuration errors an operator sees (the field path, the file and the line), which
// address each `address` value reads, explain()'s description, and how principals naming one file share it.
import test from "ava";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { ConfigError } from "../proxy/config/errors.js";
import { readReferencedFiles } from "../proxy/config/files.js";
import { ParseContext, withParseContext } from "../proxy/config/parse-context.js";
import { ConfigReader, type Json } from "../proxy/config/reader.js";
import { formatIp } from "../proxy/net/ip.js";
import { parseRbacRules } from "../proxy/filters/common/rbac/config.js";
import type { RbacEngine } from "../proxy/filters/common/rbac/engine.js";
import { rbacRequest } from "../proxy/filters/common/rbac/request.js";
import { AllowlistFileError, parseAllowlist } from "../proxy/filters/common/rbac/principals/allowlist-text.js";
import { defaultStatName } from "../proxy/filters/common/rbac/principals/ip-allowlist-file.js";
import { StatsStore } from "../proxy/observability/stats.js";
import { validateConfig } from "../proxy/server.js";
import { bootstrapYaml, hcmFilter, listener, staticCluster } from "./helpers/e2e.js";

const T_FILE = "type.googleapis.com/tollgate.extensions.rbac.principals.v1.IpAllowlistFile";
const T_HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const PRINCIPAL_PATH =
  "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.rules.policies.allowlist.principals[0]";

function tempFile(t: ExecutionContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-allowlist-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const filePrincipal = (typedConfig: Record<string, Json>, name = "tollgate.rbac.principals.ip_allowlist_file"): Json => ({
  custom: { name, typed_config: { "@type": T_FILE, ...typedConfig } },
});

const rules = (principals: Json[]): Record<string, Json> => ({
  action: "ALLOW",
  policies: { allowlist: { permissions: [{ any: true }], principals } },
});

function httpBootstrap(principals: Json[]): string {
  const hcm = hcmFilter({
    extra: {
      http_filters: [
        { name: "envoy.filters.http.rbac", typed_config: { "@type": T_HTTP_RBAC, rules: rules(principals) } },
        { name: "envoy.filters.http.router", typed_config: { "@type": T_ROUTER } },
      ],
    },
  });
  return bootstrapYaml({ listeners: [listener({ filters: [hcm] })], clusters: [staticCluster("backend", [1])] });
}

async function refused(principals: Json[]): Promise<ConfigError> {
  const err = await validateConfig({ yaml: httpBootstrap(principals) });
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err;
}

/** RBAC rules parsed as the loader parses them: the files they name are read first, then the parse sees the snapshot. */
async function engineOf(doc: Record<string, Json>): Promise<{ engine: RbacEngine; ctx: ParseContext }> {
  const ctx = new ParseContext(await readReferencedFiles(doc));
  const engine = withParseContext(ctx, () => parseRbacRules(new ConfigReader(doc, "rules")));
  return { engine, ctx };
}

const texts = (text: string): string[] => parseAllowlist(text, "list.txt").map((c) => `${formatIp(c.bytes)}/${c.prefixLen}`);

test("the file format: comments, blank lines, bare addresses, IPv6, host bits, mapped IPv4, CRLF", (t) => {
  const text = [
    "\uFEFF# office networks",
    "",
    "   # indented comment",
    "203.0.113.0/24   # HQ",
    "198.51.100.17",
    "\t2001:db8:1200::/40\t",
    "2001:db8::1",
    "10.1.2.3/8",
    "::ffff:192.0.2.9",
    "::ffff:10.0.0.0/104",
    "192.0.2.0/24\r",
    "#",
    "",
  ].join("\n");
  t.deepEqual(texts(text), [
    "203.0.113.0/24",
    "198.51.100.17/32",
    "2001:db8:1200::/40",
    "2001:db8::1/128",
    "10.0.0.0/8",
    "192.0.2.9/32",
    "10.0.0.0/8",
    "192.0.2.0/24",
  ]);
  t.deepEqual(texts(""), []);
  t.deepEqual(texts("# nothing but comments\n\n"), []);
});

test("a bad line is refused with its 1-based line number and the entry quoted", (t) => {
  const cases: Array<[string, number, string]> = [
    ["10.0.0.0/8\n# ok\n\n192.0.2.0/24\n\n\n10.0.0.300/8 # typo\n", 7, '"10.0.0.300/8"'],
    ["10.0.0.0/33\n", 1, '"10.0.0.0/33"'],
    ["2001:db8::/129\n", 1, '"2001:db8::/129"'],
    ["10.0.0.0/8 192.168.0.0/16\n", 1, '"10.0.0.0/8 192.168.0.0/16"'],
    ["ok\n", 1, '"ok"'],
    ["10.0.0.0/\n", 1, '"10.0.0.0/"'],
    ["fe80::1%eth0\n", 1, '"fe80::1%eth0"'],
  ];
  for (const [text, line, quoted] of cases) {
    const err = t.throws(() => parseAllowlist(text, "/etc/tollgate/allowlist.txt"), { instanceOf: AllowlistFileError });
    t.is(err?.code, "BAD_LINE");
    t.is(err?.line, line);
    t.is(err?.message, `/etc/tollgate/allowlist.txt line ${line}: invalid CIDR ${quoted}`);
  }
});

test("a configuration naming a file with a bad line is refused with the field path, the file and the line", async (t) => {
  const path = tempFile(t, "allowlist.txt", "# header\n10.0.0.0/8\n\n\n\n\n10.0.0.300/8\n192.0.2.0/24\n");
  const err = await refused([filePrincipal({ path })]);
  t.is(err.path, `${PRINCIPAL_PATH}.custom.typed_config.path`);
  t.is(err.detail, `${path} line 7: invalid CIDR "10.0.0.300/8"`);
  t.is(err.message, `${PRINCIPAL_PATH}.custom.typed_config.path: ${path} line 7: invalid CIDR "10.0.0.300/8"`);
});

test("a configuration naming a file that cannot be read is refused with the field path", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-allowlist-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, "missing.txt");
  const err = await refused([filePrincipal({ path: missing })]);
  t.is(err.path, `${PRINCIPAL_PATH}.custom.typed_config.path`);
  t.is(err.detail, `cannot read ${missing}: ENOENT`);
  const asDir = await refused([filePrincipal({ path: dir })]);
  t.is(asDir.detail, `cannot read ${dir}: EISDIR`);
});

test("a valid file loads; the typed config's fields are checked", async (t) => {
  const path = tempFile(t, "allowlist.txt", "203.0.113.0/24\n");
  t.is(await validateConfig({ yaml: httpBootstrap([filePrincipal({ path, address: "DIRECT", stat_prefix: "office-v4" })]) }), null);

  const typed = `${PRINCIPAL_PATH}.custom.typed_config`;
  const unknown = await refused([filePrincipal({ path, reload: true })]);
  t.is(unknown.path, `${typed}.reload`);
  const badAddress = await refused([filePrincipal({ path, address: "XFF" })]);
  t.is(badAddress.path, `${typed}.address`);
  t.regex(badAddress.detail, /REMOTE, DIRECT, SOURCE/);
  const noPath = await refused([filePrincipal({})]);
  t.is(noPath.path, `${typed}.path`);
  const badPrefix = await refused([filePrincipal({ path, stat_prefix: "office.v4" })]);
  t.is(badPrefix.path, `${typed}.stat_prefix`);
  const extraField = await refused([{ custom: { name: "x", typed_config: { "@type": T_FILE, path }, config: {} } }]);
  t.is(extraField.path, `${PRINCIPAL_PATH}.custom.config`);
});

test("custom principals that are not registered stay refused with their path", async (t) => {
  const mtls = await refused([
    {
      custom: {
        name: "envoy.rbac.principals.mtls_authenticated",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.rbac.principals.mtls_authenticated.v3.Config", any_validated_client_certificate: true },
      },
    },
  ]);
  t.is(mtls.path, `${PRINCIPAL_PATH}.custom.typed_config.@type`);
  t.regex(mtls.detail, /Didn't find a registered implementation for 'envoy.rbac.principals.mtls_authenticated'/);
  const untyped = await refused([{ custom: { name: "tollgate.rbac.principals.ip_allowlist_file" } }]);
  t.is(untyped.path, `${PRINCIPAL_PATH}.custom.typed_config`);
});

test("address: REMOTE reads the trusted client address, DIRECT the TCP peer, SOURCE the post-PROXY peer", async (t) => {
  const path = tempFile(t, "allowlist.txt", "203.0.113.0/24\n2001:db8::/32\n");
  // Three addresses a request can carry: the XFF-derived client, the TCP peer (the LB), the PROXY source (a CDN edge).
  const req = (client: string, peer: string, source: string) => rbacRequest({ remoteIp: client, directRemoteIp: peer, sourceIp: source });
  for (const [address, inList] of [
    ["REMOTE", req("203.0.113.5", "10.0.0.1", "198.51.100.1")],
    ["DIRECT", req("198.51.100.1", "203.0.113.5", "10.0.0.1")],
    ["SOURCE", req("10.0.0.1", "198.51.100.1", "203.0.113.5")],
  ] as const) {
    const { engine } = await engineOf(rules([filePrincipal({ path, address })]));
    t.true(engine.allows(engine.firstMatch(inList)), address);
    t.false(engine.allows(engine.firstMatch(req("192.0.2.1", "192.0.2.1", "192.0.2.1"))), address);
  }
  const { engine } = await engineOf(rules([filePrincipal({ path })]));
  t.true(engine.allows(engine.firstMatch(rbacRequest({ remoteIp: "2001:db8:ff::1" }))), "IPv6, REMOTE by default");
  t.true(engine.allows(engine.firstMatch(rbacRequest({ remoteIp: "::ffff:203.0.113.77" }))), "mapped IPv4 is the IPv4 address");
  t.false(engine.allows(engine.firstMatch(rbacRequest({ remoteIp: "2001:db9::1" }))));
});

test("explain describes the principal with its file, entry count and address", async (t) => {
  const path = tempFile(t, "allowlist.txt", "# two entries\n203.0.113.0/24\n198.51.100.17\n");
  const { engine } = await engineOf(
    rules([{ remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } }, filePrincipal({ path, address: "DIRECT" }), filePrincipal({ path })]),
  );
  const ex = engine.explain(rbacRequest({ remoteIp: "198.51.100.17", directRemoteIp: "10.0.0.1" }));
  const principals = ex.policies[0]!.principals;
  t.deepEqual(
    principals.map((p) => [p.path, p.text, p.matched]),
    [
      ["rules.policies.allowlist.principals[0]", "remote_ip 192.0.2.0/24", false],
      ["rules.policies.allowlist.principals[1]", `ip_allowlist_file ${path} (2 entries, DIRECT address)`, false],
      ["rules.policies.allowlist.principals[2]", `ip_allowlist_file ${path} (2 entries, REMOTE address)`, true],
    ],
  );
  t.is(ex.policies[0]!.principal, 2);
  t.true(ex.allowed);
});

test("principals naming one file share one set and one watcher; stat names must not collide", async (t) => {
  const a = tempFile(t, "allowlist.txt", "203.0.113.0/24\n");
  const b = tempFile(t, "allowlist.txt", "198.51.100.0/24\n");
  const shared = await engineOf({
    action: "ALLOW",
    policies: {
      one: { permissions: [{ any: true }], principals: [filePrincipal({ path: a })] },
      two: { permissions: [{ destination_port: 443 }], principals: [{ not_id: filePrincipal({ path: a, address: "DIRECT" }) }] },
    },
  });
  t.is(shared.ctx.resources.size, 1);

  // Two files called allowlist.txt would both count as tollgate.ip_allowlist.allowlist.*: refused, with the fix.
  const doc = rules([filePrincipal({ path: a }), filePrincipal({ path: b })]);
  const files = await readReferencedFiles(doc);
  const collide = t.throws(() => withParseContext(new ParseContext(files), () => parseRbacRules(new ConfigReader(doc, "rules"))), { instanceOf: ConfigError });
  t.is(collide?.path, "rules.policies.allowlist.principals[1].custom.typed_config.path");
  t.regex(collide?.detail ?? "", /stat name "allowlist" is already used by .* set a distinct stat_prefix/);
  const distinct = await engineOf(rules([filePrincipal({ path: a }), filePrincipal({ path: b, stat_prefix: "partners" })]));
  t.is(distinct.ctx.resources.size, 2);
  const mixed = rules([filePrincipal({ path: a }), filePrincipal({ path: a, stat_prefix: "other" })]);
  const mixedFiles = await readReferencedFiles(mixed);
  const err = t.throws(() => withParseContext(new ParseContext(mixedFiles), () => parseRbacRules(new ConfigReader(mixed, "rules"))), { instanceOf: ConfigError });
  t.is(err?.path, "rules.policies.allowlist.principals[1].custom.typed_config.stat_prefix");
});

test("the default stat name is the file's base name without extension, sanitised", (t) => {
  t.is(defaultStatName("/etc/tollgate/allowlist.txt"), "allowlist");
  t.is(defaultStatName("office.v4.list"), "office_v4");
  t.is(defaultStatName("/srv/lists/partners"), "partners");
  t.is(defaultStatName("/srv/.hidden"), "_hidden");
  t.is(defaultStatName("/srv/ünïcode list.txt"), "_n_code_list");
});

test("outside a loaded configuration the principal is refused (it never reads the disk while parsing)", (t) => {
  const err = t.throws(() => parseRbacRules(new ConfigReader(rules([filePrincipal({ path: "/etc/tollgate/allowlist.txt" })]), "rules")), { instanceOf: ConfigError });
  t.is(err?.path, "rules.policies.allowlist.principals[0].custom.typed_config.path");
});

test("once started, a reload changes decisions and explain's count, under not_id too; a bad file changes neither", async (t) => {
  const path = tempFile(t, "partners.txt", "203.0.113.0/24\n");
  const { engine, ctx } = await engineOf({
    action: "DENY",
    policies: { blocklist: { permissions: [{ any: true }], principals: [{ not_id: filePrincipal({ path }) }] } },
  });
  const stats = new StatsStore({ processMetrics: false, flushIntervalMs: 0 });
  t.teardown(() => ctx.resources.close());
  await ctx.resources.start(stats);
  const success = stats.counter("tollgate.ip_allowlist.partners.reload_success");
  const failure = stats.counter("tollgate.ip_allowlist.partners.reload_failure");
  const entries = stats.gauge("tollgate.ip_allowlist.partners.entries");
  const allowed = (ip: string): boolean => engine.allows(engine.firstMatch(rbacRequest({ remoteIp: ip })));
  const text = (): string => engine.explain(rbacRequest({ remoteIp: "192.0.2.1" })).policies[0]!.principals[0]!.text;
  t.is(entries.value(), 1);
  t.true(allowed("203.0.113.7"));
  t.false(allowed("192.0.2.1"));
  t.is(text(), `not_id(ip_allowlist_file ${path} (1 entry, REMOTE address))`);

  writeFileSync(path, "203.0.113.0/24\n192.0.2.0/24\n");
  await waitFor(() => success.value() === 1);
  t.true(allowed("192.0.2.1"));
  t.is(entries.value(), 2);
  t.is(text(), `not_id(ip_allowlist_file ${path} (2 entries, REMOTE address))`);

  writeFileSync(path, "203.0.113.0/24\n192.0.2.0/24 192.0.3.0/24\n");
  await waitFor(() => failure.value() === 1);
  t.true(allowed("192.0.2.1"));
  t.false(allowed("192.0.3.1"));
  t.is(entries.value(), 2);
  t.is(success.value(), 1);
});

async function waitFor(pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
