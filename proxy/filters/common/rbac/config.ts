// config.rbac.v3.RBAC (the `rules` / `shadow_rules` of both RBAC filters), compiled once into an RbacEngine.
//
// Supported: action ALLOW | DENY | LOG; policies (evaluated in name order); per policy `permissions` (OR) and
// `principals` (OR). Permissions: any, header, url_path, destination_ip, destination_port, destination_port_range,
// and_rules, or_rules, not_rule, requested_server_name. Principals: any, remote_ip, direct_remote_ip, source_ip,
// header, url_path, and_ids, or_ids, not_id, and `custom` principal extensions registered in the "rbac_principal"
// category (principal-extension.ts; Tollgate's ip_allowlist_file: principals/ip-allowlist-file.ts).
// Refused with their path (Tollgate could not honour them): CEL conditions, metadata / filter_state / sourced_metadata
// matchers, matcher extensions, custom principals that are not registered, uri_template, `authenticated` (no
// downstream TLS), audit logging.
import { Buffer } from "node:buffer";
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { resolveExtension } from "../../../config/registry.js";
import { formatIp, type Cidr } from "../../../net/ip.js";
import { readStringMatcher } from "../../network/http-connection-manager/string-matcher.js";
import { parseCidrRange } from "../cidr-config.js";
import { buildCidrMatcher } from "../cidr-matcher.js";
import { RbacEngine, responseDetail, type CompiledPolicy, type RbacAction } from "./engine.js";
import { describeHeaderMatcher, describeStringMatcher } from "./header-matcher.js";
import { readHeaderMatcher } from "../../network/http-connection-manager/route-config.js";
import type { RbacPrincipalExtension } from "./principal-extension.js";
// Principal extensions register themselves in the registry when imported.
import {
  AndMatcher,
  AnyMatcher,
  HeaderRbacMatcher,
  IpMatcher,
  NotMatcher,
  OrMatcher,
  PortMatcher,
  PortRangeMatcher,
  ServerNameMatcher,
  UrlPathMatcher,
  type CidrGroup,
  type IpField,
  type RbacMatcher,
} from "./matchers.js";

const PERMISSION_RULES = [
  "and_rules",
  "or_rules",
  "any",
  "header",
  "url_path",
  "destination_ip",
  "destination_port",
  "destination_port_range",
  "metadata",
  "not_rule",
  "requested_server_name",
  "matcher",
  "uri_template",
  "sourced_metadata",
] as const;

const PRINCIPAL_IDENTIFIERS = [
  "and_ids",
  "or_ids",
  "any",
  "authenticated",
  "source_ip",
  "direct_remote_ip",
  "remote_ip",
  "header",
  "url_path",
  "metadata",
  "filter_state",
  "not_id",
  "sourced_metadata",
  "custom",
] as const;

const REFUSED: Readonly<Record<string, string>> = {
  metadata: "metadata matchers are not supported: Tollgate's RBAC matches addresses, ports, SNI, headers and paths",
  sourced_metadata: "sourced_metadata matchers are not supported: Tollgate's RBAC matches addresses, ports, SNI, headers and paths",
  filter_state: "filter_state matchers are not supported: Tollgate keeps no filter state objects",
  matcher: "RBAC matcher extensions (envoy.rbac.matchers) are not supported",
  uri_template: "uri_template is not supported; use url_path with prefix, exact or safe_regex",
  authenticated:
    "authenticated is not supported: Tollgate does not terminate downstream TLS, so no connection carries a peer certificate (match clients by remote_ip instead)",
};

/** One entry of a list, before the list decides how to hold it: CIDR leaves may be merged into their OR list's set. */
type Item =
  | { readonly kind: "cidr"; readonly field: IpField; readonly cidr: Cidr; readonly path: string; readonly text: string }
  | { readonly kind: "matcher"; readonly matcher: RbacMatcher };

function cidrText(field: string, c: Cidr): string {
  return `${field} ${formatIp(c.bytes)}/${c.prefixLen}`;
}

function readCidrItem(r: ConfigReader, key: string, field: IpField): Item {
  const cidr = parseCidrRange(r.obj(key, { required: true }));
  r.done();
  return { kind: "cidr", field, cidr, path: r.path, text: cidrText(key, cidr) };
}

function refuseItem(r: ConfigReader, key: string): never {
  throw new ConfigError(r.at(key), REFUSED[key] ?? "is not supported by Tollgate");
}

function readAny(r: ConfigReader): Item {
  if (r.bool("any", false) !== true) throw new ConfigError(r.at("any"), "must be true (an `any: false` entry matches nothing; remove it)");
  r.done();
  return { kind: "matcher", matcher: new AnyMatcher(r.path) };
}

function readPermission(r: ConfigReader): Item {
  const rule = r.oneof(PERMISSION_RULES, { required: true, name: "rule" }) as (typeof PERMISSION_RULES)[number];
  switch (rule) {
    case "any":
      return readAny(r);
    case "and_rules":
    case "or_rules": {
      const set = r.obj(rule, { required: true });
      const items = set.objList("rules", { required: true, minItems: 1 }).map(readPermission);
      set.done();
      r.done();
      return { kind: "matcher", matcher: rule === "and_rules" ? andOf(r.path, rule, items) : orOf(r.path, rule, items) };
    }
    case "not_rule": {
      const inner = toMatcher(readPermission(r.obj("not_rule", { required: true })));
      r.done();
      return { kind: "matcher", matcher: new NotMatcher(r.path, "not_rule", inner) };
    }
    case "header": {
      const m = readHeaderMatcher(r.obj("header", { required: true }));
      r.done();
      return { kind: "matcher", matcher: new HeaderRbacMatcher(r.path, describeHeaderMatcher(m), m) };
    }
    case "url_path":
      return readUrlPath(r);
    case "destination_ip":
      return readCidrItem(r, "destination_ip", "local");
    case "destination_port": {
      const port = r.int("destination_port", { required: true, min: 0, max: 65535 });
      r.done();
      return { kind: "matcher", matcher: new PortMatcher(r.path, `destination_port ${port}`, port) };
    }
    case "destination_port_range": {
      // type.v3.Int32Range; Envoy's PortRangeMatcher checks the bounds at config time.
      const rr = r.obj("destination_port_range", { required: true });
      const start = rr.int("start", { default: 0 });
      const end = rr.int("end", { default: 0 });
      rr.done();
      r.done();
      if (start < 0 || start > 65536) throw new ConfigError(rr.at("start"), `range start ${start} is out of bounds`);
      if (end < 0 || end > 65536) throw new ConfigError(rr.at("end"), `range end ${end} is out of bounds`);
      if (start >= end) throw new ConfigError(rr.path, `range start ${start} cannot be greater or equal than range end ${end}`);
      return { kind: "matcher", matcher: new PortRangeMatcher(r.path, `destination_port_range [${start}, ${end})`, start, end) };
    }
    case "requested_server_name": {
      const m = readStringMatcher(r.obj("requested_server_name", { required: true }));
      r.done();
      return { kind: "matcher", matcher: new ServerNameMatcher(r.path, `requested_server_name ${describeStringMatcher(m)}`, m) };
    }
    default:
      return refuseItem(r, rule);
  }
}

function readPrincipal(r: ConfigReader): Item {
  const id = r.oneof(PRINCIPAL_IDENTIFIERS, { required: true, name: "identifier" }) as (typeof PRINCIPAL_IDENTIFIERS)[number];
  switch (id) {
    case "any":
      return readAny(r);
    case "and_ids":
    case "or_ids": {
      const set = r.obj(id, { required: true });
      const items = set.objList("ids", { required: true, minItems: 1 }).map(readPrincipal);
      set.done();
      r.done();
      return { kind: "matcher", matcher: id === "and_ids" ? andOf(r.path, id, items) : orOf(r.path, id, items) };
    }
    case "not_id": {
      const inner = toMatcher(readPrincipal(r.obj("not_id", { required: true })));
      r.done();
      return { kind: "matcher", matcher: new NotMatcher(r.path, "not_id", inner) };
    }
    case "remote_ip":
      return readCidrItem(r, "remote_ip", "remote");
    case "direct_remote_ip":
      return readCidrItem(r, "direct_remote_ip", "directRemote");
    case "source_ip":
      return readCidrItem(r, "source_ip", "source");
    case "header": {
      const m = readHeaderMatcher(r.obj("header", { required: true }));
      r.done();
      return { kind: "matcher", matcher: new HeaderRbacMatcher(r.path, describeHeaderMatcher(m), m) };
    }
    case "url_path":
      return readUrlPath(r);
    case "custom": {
      // config.core.v3.TypedExtensionConfig, resolved by its typed_config's @type; an unregistered type is refused
      // with the path of that @type.
      const ext = resolveExtension<RbacPrincipalExtension>("rbac_principal", r.obj("custom", { required: true }));
      r.done();
      return { kind: "matcher", matcher: ext.config.matcher(r.path) };
    }
    default:
      return refuseItem(r, id);
  }
}

/** type.matcher.v3.PathMatcher {path: StringMatcher}. */
function readUrlPath(r: ConfigReader): Item {
  const pm = r.obj("url_path", { required: true });
  pm.oneof(["path"] as const, { required: true, name: "rule" });
  const m = readStringMatcher(pm.obj("path", { required: true }));
  pm.done();
  r.done();
  return { kind: "matcher", matcher: new UrlPathMatcher(r.path, `url_path ${describeStringMatcher(m)}`, m) };
}

/** A CIDR leaf on its own (in an AND list or under not_*): a one-range CidrMatcher. */
function toMatcher(item: Item): RbacMatcher {
  if (item.kind === "matcher") return item.matcher;
  return new IpMatcher(item.path, item.text, item.field, buildCidrMatcher([item.cidr]));
}

function andOf(path: string, name: string, items: readonly Item[]): RbacMatcher {
  const ms = items.map(toMatcher);
  return new AndMatcher(path, `${name}(${items.length})`, Object.freeze(ms));
}

/** An OR list: the CIDR leaves of each address kind merged into one CidrMatcher (matchers.ts explains why). */
function orOf(path: string, name: string, items: readonly Item[]): OrMatcher {
  const byField = new Map<IpField, Array<{ index: number; path: string; text: string; cidr: Cidr }>>();
  const others: Array<{ index: number; matcher: RbacMatcher }> = [];
  items.forEach((item, index) => {
    if (item.kind === "matcher") {
      others.push({ index, matcher: item.matcher });
      return;
    }
    let members = byField.get(item.field);
    if (!members) byField.set(item.field, (members = []));
    members.push({ index, path: item.path, text: item.text, cidr: item.cidr });
  });
  const groups: CidrGroup[] = [...byField].map(([field, members]) => ({
    field,
    set: buildCidrMatcher(members.map((m) => m.cidr)),
    members: Object.freeze(members),
  }));
  return new OrMatcher(path, `${name}(${items.length})`, Object.freeze(groups), Object.freeze(others), items.length);
}

/** Envoy's std::map<std::string, ...> order: byte-wise on the names' UTF-8. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function readPolicy(name: string, r: ConfigReader): CompiledPolicy {
  for (const k of ["condition", "checked_condition", "cel_config"]) {
    if (r.has(k)) {
      throw new ConfigError(
        r.at(k),
        "CEL conditions are not supported by Tollgate (it has no expression evaluator); express the policy with permissions and principals",
      );
    }
  }
  const permissions = orOf(r.at("permissions"), "permissions", r.objList("permissions", { required: true, minItems: 1 }).map(readPermission));
  const principals = orOf(r.at("principals"), "principals", r.objList("principals", { required: true, minItems: 1 }).map(readPrincipal));
  r.done();
  return Object.freeze({ name, path: r.path, details: responseDetail(name), permissions, principals });
}

/** config.rbac.v3.RBAC. */
export function parseRbacRules(r: ConfigReader): RbacEngine {
  for (const k of ["audit_logging_options", "audit_condition", "audit_log"]) {
    if (r.has(k)) throw new ConfigError(r.at(k), "RBAC audit logging is not supported by Tollgate; use an access log with %DYNAMIC_METADATA%");
  }
  const action: RbacAction = r.enum("action", ["ALLOW", "DENY", "LOG"] as const, "ALLOW");
  const policies = [...r.objMap("policies")].sort((a, b) => compareNames(a[0], b[0])).map(([name, pr]) => readPolicy(name, pr));
  r.done();
  return Object.freeze(new RbacEngine(action, Object.freeze(policies)));
}
