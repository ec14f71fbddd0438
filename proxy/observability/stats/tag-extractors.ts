// Envoy's default tag extraction (source/common/config/well_known_names.cc, newest upstream list), used to turn a
// dotted stat name into a Prometheus name plus labels:
//
//   http.ingress.downstream_rq_2xx  ->  http.downstream_rq_xx  {envoy.response_code_class=2, envoy.http_conn_manager_prefix=ingress}
//
// Two kinds of extractor, as in Envoy:
// - regex: group 1 is the text removed from the name, group 2 (or group 1 when absent/empty) the tag value; an
//   optional substring must appear in the name first; an optional "negative" value is never a tag (`listener.admin`).
// - tokens: a dotted pattern where `$` is the tag, `*` one token, `**` any number (at least one at the end).
// Every extractor matches against the ORIGINAL name; the removed character ranges are united and dropped at the
// end, so the result does not depend on extractor order. Tag order (hence label order) follows Envoy's: extractors
// with no prefix token first, then those keyed by the name's first token, each group in definition order. When
// several extractors share a tag name (http_conn_manager_prefix, ext_authz_prefix), only the first match counts.
//
// This runs once per stat, when the stat is created (config time), never per increment.

export interface Tag {
  readonly name: string;
  readonly value: string;
}

export interface ExtractedName {
  /** The name with tag segments removed, e.g. `cluster.upstream_rq`. */
  readonly extracted: string;
  readonly tags: readonly Tag[];
}

// Regex fragments, expanded as Envoy's expandRegex() does.
const TAG_VALUE = "[^\\.]+";
const EXPANSIONS: ReadonlyArray<[string, string]> = [
  ["<ADDRESS>", "(?:(?:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}|\\[[a-fA-F_\\d]+\\])_\\d+)"],
  ["<CIPHER>", "[\\w-]+"],
  ["<TLS_VERSION>", "TLSv\\d\\.\\d"],
  ["<TAG_VALUE>", TAG_VALUE],
  ["<ROUTE_CONFIG_NAME>", "[\\w\\-\\./]+"],
  ["<SCOPED_ROUTE_CONFIG_NAME>", "[\\w\\-\\.]+"],
  ["<LISTENER_OR_CLUSTER_WITH_NAME>", "(?:listener|cluster)\\..*?"],
  ["<PROXY_PROTOCOL_VERSION>", "\\d"],
];

function expand(regex: string): string {
  let out = regex;
  for (const [k, v] of EXPANSIONS) out = out.split(k).join(v);
  return out;
}

/** Envoy's TagExtractorImplBase::extractRegexPrefix: the literal first token of a `^token\.` regex, else "". */
function regexPrefix(regex: string): string {
  if (!regex.startsWith("^")) return "";
  for (let i = 1; i < regex.length; i++) {
    const c = regex[i];
    if (!/[A-Za-z0-9_]/.test(c)) {
      if (i > 1) {
        const last = i === regex.length - 1;
        const rest = regex.slice(i);
        if ((!last && (rest.startsWith("\\.") || rest.startsWith("(?=\\."))) || (last && c === "$")) {
          return regex.slice(1, i);
        }
      }
      return "";
    }
  }
  return "";
}

interface Extractor {
  readonly tagName: string;
  readonly prefix: string;
  sharedName: boolean;
  /** On a match: pushes the tag, adds the removed [start, end) range, returns true. */
  extract(name: string, tokens: readonly string[], tags: Tag[], remove: Array<[number, number]>): boolean;
}

class RegexExtractor implements Extractor {
  readonly prefix: string;
  sharedName = false;
  private readonly re: RegExp;

  constructor(
    readonly tagName: string,
    regex: string,
    private readonly substr: string,
    private readonly negative: string,
  ) {
    const expanded = expand(regex);
    this.prefix = regexPrefix(expanded);
    // `d` gives the indices of group 1, the part to remove. RE2's PartialMatch = an unanchored search.
    this.re = new RegExp(expanded, "d");
  }

  extract(name: string, _tokens: readonly string[], tags: Tag[], remove: Array<[number, number]>): boolean {
    if (this.substr !== "" && !name.includes(this.substr)) return false;
    const m = this.re.exec(name);
    if (m === null || m.indices === undefined) return false;
    const removed = m[1];
    const span = m.indices[1];
    if (removed === undefined || removed === "" || span === undefined) return false;
    const value = m[2] !== undefined && m[2] !== "" ? m[2] : removed;
    if (this.negative !== "" && value === this.negative) return false;
    tags.push({ name: this.tagName, value });
    remove.push([span[0], span[1]]);
    return true;
  }
}

class TokensExtractor implements Extractor {
  readonly prefix: string;
  sharedName = false;
  private readonly pattern: readonly string[];
  private readonly matchIndex: number;

  constructor(
    readonly tagName: string,
    pattern: string,
  ) {
    this.pattern = pattern.split(".");
    this.matchIndex = this.pattern.indexOf("$");
    if (this.matchIndex < 0) throw new Error(`tag pattern ${pattern} has no $`);
    const first = this.pattern[0];
    this.prefix = first === "$" || first === "*" || first === "**" ? "" : first;
  }

  extract(_name: string, tokens: readonly string[], tags: Tag[], remove: Array<[number, number]>): boolean {
    const found = { start: 0, index: -1 };
    if (!this.search(tokens, 0, 0, 0, found)) return false;
    const value = tokens[found.index];
    let start = found.start;
    let end = start + value.length;
    if (found.index < tokens.length - 1) {
      end++; // the dot after the tag: "ab." or "cd."
    } else if (start > 0) {
      start--; // the tag is the last token: remove the dot before it, ".ef"
    }
    tags.push({ name: this.tagName, value });
    remove.push([start, end]);
    return true;
  }

  // Envoy's TagExtractorTokensImpl::searchTags, including the backtracking for a `**` that is not last.
  private search(
    input: readonly string[],
    inputIndex: number,
    patternIndex: number,
    charIndex: number,
    found: { start: number; index: number },
  ): boolean {
    const pattern = this.pattern;
    for (; inputIndex < input.length && patternIndex < pattern.length; inputIndex++, patternIndex++) {
      if (patternIndex === this.matchIndex) {
        found.start = charIndex;
        found.index = inputIndex;
        charIndex += input[inputIndex].length + 1;
        continue;
      }
      const expected = pattern[patternIndex];
      if (expected === "**") {
        if (patternIndex === pattern.length - 1) return true; // matches the rest (at least one token)
        for (let i = inputIndex; i < input.length; i++) {
          if (this.search(input, i, patternIndex + 1, charIndex, found)) return true;
          charIndex += input[i].length + 1;
        }
        return false;
      }
      if (expected !== "*" && expected !== input[inputIndex]) return false;
      charIndex += input[inputIndex].length + 1;
    }
    return patternIndex === pattern.length && inputIndex === input.length;
  }
}

const E = "envoy.";

// Regex descriptors, in well_known_names.cc order: [tag, regex, substr, negative value].
const REGEX_DESCRIPTORS: ReadonlyArray<readonly [string, string, string, string]> = [
  [`${E}response_code`, "_rq(_(\\d{3}))$", "_rq_", ""],
  [`${E}response_code_class`, "_rq_((\\d))xx$", "_rq_", ""],
  [`${E}dynamo_partition_id`, "^http\\.<TAG_VALUE>\\.dynamodb\\.table\\.<TAG_VALUE>\\.capacity\\.<TAG_VALUE>(\\.__partition_id=(\\w{7}))$", ".dynamodb.table.", ""],
  [`${E}dynamo_operation`, "^http\\.<TAG_VALUE>\\.dynamodb.(?:operation|table\\.<TAG_VALUE>\\.capacity)(\\.(<TAG_VALUE>))(?:\\.|$)", ".dynamodb.", ""],
  [`${E}dynamo_table`, "^http\\.<TAG_VALUE>\\.dynamodb.(?:table|error)\\.((<TAG_VALUE>)\\.)", ".dynamodb.", ""],
  [`${E}ssl_cipher`, "^listener\\..*?\\.ssl\\.ciphers(\\.(<CIPHER>))$", ".ssl.ciphers.", ""],
  [`${E}ssl_curve`, "^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.curves(\\.(<CIPHER>))$", ".ssl.curves.", ""],
  [`${E}ssl_sigalg`, "^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.sigalgs(\\.(<CIPHER>))$", ".ssl.sigalgs.", ""],
  [`${E}ssl_version`, "^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.versions(\\.(<TLS_VERSION>))$", ".ssl.versions.", ""],
  [`${E}ssl_cipher_suite`, "^cluster\\.<TAG_VALUE>\\.ssl\\.ciphers(\\.(<CIPHER>))$", ".ssl.ciphers.", ""],
  [`${E}http_conn_manager_prefix`, "^listener\\..*?\\.http\\.((<TAG_VALUE>)\\.)", ".http.", ""],
  [`${E}worker_id`, "^(?:listener\\.(?:<ADDRESS>|<TAG_VALUE>)|server|listener_manager|thread_local_cluster_manager)\\.worker_((\\d+)\\.)", "", ""],
  [`${E}listener_address`, "^listener\\.((<ADDRESS>|<TAG_VALUE>)\\.)", "", "admin"],
  [`${E}rds_route_config`, "^http\\.<TAG_VALUE>\\.rds\\.((<ROUTE_CONFIG_NAME>)\\.)\\w+?$", ".rds.", ""],
  [`${E}scoped_rds_config`, "^http\\.<TAG_VALUE>\\.scoped_rds\\.((<SCOPED_ROUTE_CONFIG_NAME>)\\.)\\w+?$", ".scoped_rds.", ""],
  [`${E}rbac_policy_name`, "^http\\.<TAG_VALUE>\\.rbac\\.(?:<TAG_VALUE>\\.)?policy\\.((<TAG_VALUE>)\\.)(allowed|shadow_allowed|denied|shadow_denied)$", "", ""],
  [`${E}rbac_http_prefix`, "^http\\.<TAG_VALUE>\\.rbac\\.((<TAG_VALUE>)\\.).*?", "", "policy"],
  [`${E}proxy_protocol_prefix`, "^proxy_proto\\.((<TAG_VALUE>)\\.).+$", "", "versions"],
  [`${E}proxy_protocol_version`, "^proxy_proto\\.((?:<TAG_VALUE>\\.)?versions\\.v(<PROXY_PROTOCOL_VERSION>)\\.)\\w+$", "", ""],
  [`${E}tls_certificate`, "^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.certificate\\.((<TAG_VALUE>)\\.).*$", ".ssl.certificate", ""],
  [`${E}xds_resource_name`, "^sds\\.((<TAG_VALUE>)\\.).+", "", ""],
];

// Tokenized descriptors, in well_known_names.cc order (Envoy adds them after all regex ones).
const TOKEN_DESCRIPTORS: ReadonlyArray<readonly [string, string]> = [
  [`${E}mongo_callsite`, "mongo.*.collection.*.callsite.$.query.**"],
  [`${E}mongo_collection`, "mongo.*.collection.$.**.query.*"],
  [`${E}mongo_cmd`, "mongo.*.cmd.$.**"],
  [`${E}grpc_bridge_method`, "cluster.*.grpc.*.$.**"],
  [`${E}http_user_agent`, "http.*.user_agent.$.**"],
  [`${E}virtual_cluster`, "vhost.*.vcluster.$.**"],
  [`${E}fault_downstream_cluster`, "http.*.fault.$.**"],
  [`${E}grpc_bridge_service`, "cluster.*.grpc.$.**"],
  [`${E}tcp_prefix`, "tcp.$.**"],
  [`${E}udp_prefix`, "udp.$.**"],
  [`${E}clientssl_prefix`, "auth.clientssl.$.**"],
  [`${E}ratelimit_prefix`, "ratelimit.$.**"],
  [`${E}cluster_name`, "cluster.$.**"],
  [`${E}ext_authz_prefix`, "cluster.*.ext_authz.$.**"],
  [`${E}ext_authz_prefix`, "http.*.ext_authz.$.**"],
  [`${E}http_conn_manager_prefix`, "http.$.**"],
  [`${E}virtual_host`, "vhost.$.**"],
  [`${E}mongo_prefix`, "mongo.$.**"],
  [`${E}route`, "vhost.*.route.$.**"],
  [`${E}thrift_prefix`, "thrift.$.**"],
  [`${E}redis_prefix`, "redis.$.**"],
  [`${E}local_http_ratelimit_prefix`, "$.http_local_rate_limit.**"],
  [`${E}local_network_ratelimit_prefix`, "local_rate_limit.$.**"],
  [`${E}local_listener_ratelimit_prefix`, "listener_local_ratelimit.$.**"],
  [`${E}dns_filter_prefix`, "dns_filter.$.**"],
  [`${E}connection_limit_prefix`, "connection_limit.$.**"],
  [`${E}rbac_prefix`, "$.rbac.**"],
  [`${E}google_grpc_client_prefix`, "grpc.$.**"],
];

/** A configured set of extractors (Envoy's TagProducer). Build once; `extract` is pure. */
export class TagProducer {
  private readonly withoutPrefix: Extractor[] = [];
  private readonly byPrefix = new Map<string, Extractor[]>();

  constructor() {
    const all: Extractor[] = [
      ...REGEX_DESCRIPTORS.map(([t, re, sub, neg]) => new RegexExtractor(t, re, sub, neg)),
      ...TOKEN_DESCRIPTORS.map(([t, p]) => new TokensExtractor(t, p)),
    ];
    const seen = new Map<string, Extractor>();
    for (const x of all) {
      const other = seen.get(x.tagName);
      if (other) {
        other.sharedName = true;
        x.sharedName = true;
      } else {
        seen.set(x.tagName, x);
      }
      if (x.prefix === "") {
        this.withoutPrefix.push(x);
      } else {
        let list = this.byPrefix.get(x.prefix);
        if (!list) this.byPrefix.set(x.prefix, (list = []));
        list.push(x);
      }
    }
  }

  extract(name: string): ExtractedName {
    const tokens = name.split(".");
    const tags: Tag[] = [];
    const remove: Array<[number, number]> = [];
    const done = new Set<string>();
    const run = (x: Extractor): void => {
      if (x.sharedName && done.has(x.tagName)) return;
      if (x.extract(name, tokens, tags, remove) && x.sharedName) done.add(x.tagName);
    };
    for (const x of this.withoutPrefix) run(x);
    const dot = name.indexOf(".");
    if (dot >= 0) {
      const list = this.byPrefix.get(name.slice(0, dot));
      if (list) for (const x of list) run(x);
    }
    return { extracted: removeRanges(name, remove), tags };
  }
}

function removeRanges(name: string, ranges: Array<[number, number]>): string {
  if (ranges.length === 0) return name;
  const drop = new Uint8Array(name.length);
  for (const [s, e] of ranges) drop.fill(1, s, e);
  let out = "";
  let runStart = -1;
  for (let i = 0; i <= name.length; i++) {
    const keep = i < name.length && drop[i] === 0;
    if (keep && runStart < 0) runStart = i;
    if (!keep && runStart >= 0) {
      out += name.slice(runStart, i);
      runStart = -1;
    }
  }
  return out;
}

let defaultProducer: TagProducer | undefined;

/** The process-wide producer with Envoy's default extractors (built on first use). */
export function defaultTagProducer(): TagProducer {
  return (defaultProducer ??= new TagProducer());
}

/** Prometheus sanitising, as Envoy: every character outside [A-Za-z0-9_] becomes `_`. */
export function sanitizePrometheusName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, "_");
}

/** Envoy's Prometheus metric name for a tag-extracted stat name. */
export function prometheusMetricName(extracted: string): string {
  return `envoy_${sanitizePrometheusName(extracted)}`;
}
