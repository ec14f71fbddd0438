// The explain report as text for a human: the seven steps of docs/explain.md in order, then the decision. The JSON
// form (`--format json`, `GET /rbac/explain`) carries the same content.
import type { MatchTrace } from "../filters/common/rbac/matchers.js";
import type {
  BucketReport, EngineReport, ExplainReport, HttpFilterStep, NetworkFilterStep, RbacFilterReport,
} from "./explain-report.js";

/** Non-matching entries shown per list before the rest are summarised (a 10 000-entry allowlist stays readable). */
const MAX_UNMATCHED_SHOWN = 8;

function traceLines(items: readonly MatchTrace[], indent: string, out: string[], label: string): void {
  let hidden = 0;
  let shownUnmatched = 0;
  items.forEach((t, i) => {
    if (!t.matched && shownUnmatched >= MAX_UNMATCHED_SHOWN) {
      hidden++;
      return;
    }
    if (!t.matched) shownUnmatched++;
    out.push(`${indent}${t.matched ? "+" : "-"} ${label}[${i}] ${t.text}`);
    if (t.children && t.children.length > 0 && t.children.length <= 64) traceLines(t.children, `${indent}    `, out, "");
  });
  if (hidden > 0) out.push(`${indent}  ... and ${hidden} more, none matching`);
}

function engineLines(title: string, e: EngineReport, indent: string, out: string[]): void {
  out.push(`${indent}${title}: action ${e.action}, ${e.policies.length} ${e.policies.length === 1 ? "policy" : "policies"} in name order`);
  if (e.policies.length === 0) out.push(`${indent}  (no policies)`);
  for (const p of e.policies) {
    const state = p.effective ? "MATCHED (the effective policy)" : p.matched ? "matched (not the first)" : "no match";
    out.push(`${indent}  policy ${JSON.stringify(p.name)}: ${state}`);
    out.push(`${indent}    permissions${p.permission === null ? " (none matches)" : ""}:`);
    traceLines(p.permissions, `${indent}      `, out, "permissions");
    out.push(`${indent}    principals${p.principal === null ? " (none matches)" : ""}:`);
    traceLines(p.principals, `${indent}      `, out, "principals");
  }
  let verdict: string;
  if (e.action === "LOG") verdict = `allowed (LOG: access_log_hint ${e.access_log_hint})`;
  else if (e.allowed) verdict = e.effective_policy === null ? "allowed: no DENY policy matches" : `allowed: policy ${JSON.stringify(e.effective_policy)} matches`;
  else verdict = `DENIED: ${e.details}`;
  out.push(`${indent}  => ${verdict}`);
}

function rbacLines(head: string, r: RbacFilterReport, reached: boolean, out: string[]): void {
  const settings = { filter: "the filter's rules", route: "the route's RBACPerRoute", disabled: "disabled on this route" }[r.settings];
  out.push(`   ${head}; ${settings}${reached ? "" : " (not reached: an earlier step decided)"}`);
  const a = r.addresses;
  out.push(`     addresses: remote_ip ${a.remote_ip}, direct_remote_ip ${a.direct_remote_ip}, source_ip ${a.source_ip}, destination ${a.destination}`);
  if (r.settings === "disabled") return;
  if (r.shadow_rules !== null) engineLines("shadow_rules (never enforced)", r.shadow_rules, "     ", out);
  if (r.rules !== null) engineLines("rules", r.rules, "     ", out);
  else out.push("     no rules: nothing is enforced");
}

function bucketLine(b: BucketReport): string {
  const what = b.kind === "default" ? "token_bucket" : `${b.bucket} (${b.kind}${b.key !== null ? `, key ${b.key}` : ""})`;
  const rate = `${b.tokens_per_fill} per ${b.fill_interval_ms} ms`;
  return `${what}: ${b.tokens} of ${b.max_tokens} tokens (refill ${rate}) -> ${b.takes ? "takes one" : "EMPTY: limits the request"}`;
}

function httpFilterHead(f: HttpFilterStep): string {
  return `${f.name} (HTTP filter, http_filters[${f.index}])`;
}

function networkFilterHead(f: NetworkFilterStep): string {
  return `${f.name} (network filter ${f.index}, connection level)`;
}

export function formatReport(r: ExplainReport): string {
  const out: string[] = [];
  const i = r.input;
  out.push(
    `Request: ${i.method} ${i.path} (host ${i.host}) from peer ${i.peer}` +
      `${i.proxy_src ? `, PROXY source ${i.proxy_src}` : ", no PROXY header"}` +
      `${i.xff !== null ? `, X-Forwarded-For "${i.xff}"` : ""}`,
  );
  out.push("");

  out.push("1. Listener and filter chain");
  out.push(`   listener ${JSON.stringify(r.listener.name)} ${r.listener.address}${r.listener.all.length > 1 ? ` (listeners: ${r.listener.all.join(", ")})` : ""}`);
  if (r.filter_chain === null) {
    out.push(r.connection === null ? "   no filter chain: the connection is closed before (step 3)" : "   no filter chain matches: the connection is closed");
  } else {
    const c = r.filter_chain;
    out.push(`   ${c.explanation}`);
    out.push(`     its filter_chain_match: ${c.match.length === 0 ? "(none: it matches every connection)" : c.match.join("; ")}`);
    out.push(`     compared with: ${c.inputs.join(", ")}`);
  }
  out.push("");

  out.push("2. Direct peer");
  out.push(`   ${r.peer.address}: ${r.peer.explanation}`);
  out.push("");

  out.push("3. PROXY protocol");
  for (const l of r.proxy_protocol.explanation) out.push(`   - ${l}`);
  for (const f of r.listener_filters) {
    if (f.name === r.proxy_protocol.filter) continue;
    out.push(`   - listener filter ${f.name}: ${f.verdict}${f.reason ? ` (${f.reason})` : ""}`);
  }
  out.push(r.connection === null ? "   the connection is closed here" : `   connection remote address: ${r.connection.remote} (local ${r.connection.local})`);
  out.push("");

  out.push("4. Trusted client address");
  const h = r.http;
  if (h === null) {
    out.push(r.connection === null ? "   not reached" : "   no HTTP connection manager in this chain: RBAC and rate limits read the connection's addresses");
  } else {
    const c = h.client_address;
    out.push(
      `   http_connection_manager ${JSON.stringify(h.stat_prefix)}: use_remote_address ${c.use_remote_address}, xff_num_trusted_hops ${c.xff_num_trusted_hops}` +
        `${c.skip_xff_append ? ", skip_xff_append" : ""}; connection remote ${c.connection_remote}; X-Forwarded-For ${c.x_forwarded_for === null ? "absent" : `"${c.x_forwarded_for}"`}`,
    );
    for (const s of c.steps) out.push(`   - ${s}`);
    if (c.use_remote_address && c.xff_num_trusted_hops === 0 && c.x_forwarded_for !== null) {
      out.push("   - xff_num_trusted_hops 0: no X-Forwarded-For entry is trusted (a client cannot choose its address by sending one)");
    }
    out.push(`   => ${c.trusted_address ?? "(none)"}${c.from_xff ? " (from X-Forwarded-For)" : " (the connection's remote address)"}: remote_ip, the rate limit's remote_address, %DOWNSTREAM_REMOTE_ADDRESS%`);
    if (c.x_forwarded_for_upstream !== null) out.push(`   X-Forwarded-For sent upstream: ${c.x_forwarded_for_upstream}`);
  }
  out.push("");

  out.push("5. Route");
  if (h === null) out.push("   no HTTP routing");
  else {
    const rt = h.route;
    if (h.rejected) out.push(`   the request is refused before routing: ${h.rejected.status} (${h.rejected.details})`);
    else if (rt.route === null) out.push(`   ${rt.explanation}`);
    else {
      out.push(`   ${rt.explanation}`);
      out.push(`     domains ${rt.domains.join(", ")}; match ${rt.match}; action ${rt.action}`);
    }
  }
  out.push("");

  out.push("6. RBAC");
  let rbacCount = 0;
  for (const f of r.network_filters) {
    if (f.kind !== "rbac") continue;
    rbacCount++;
    rbacLines(networkFilterHead(f), f.rbac, f.reached, out);
  }
  for (const f of h?.filters ?? []) {
    if (f.kind !== "rbac") continue;
    rbacCount++;
    rbacLines(httpFilterHead(f), f.rbac, f.reached && (h?.reached ?? false), out);
  }
  if (rbacCount === 0) out.push(r.filter_chain === null ? "   not reached" : "   no RBAC filter in this filter chain");
  out.push("");

  out.push("7. Local rate limits");
  let rlCount = 0;
  for (const f of r.network_filters) {
    if (f.kind !== "local_ratelimit") continue;
    rlCount++;
    const l = f.ratelimit;
    out.push(`   ${networkFilterHead(f)} "${l.stat_prefix}"${f.reached ? "" : " (not reached)"}: one token per new connection`);
    if (!l.enabled) out.push("     runtime_enabled false: every connection passes");
    if (l.client) out.push(`     client bucket, key ${l.client.key}: ${l.client.tokens} tokens${l.limited_by === "client" ? " -> EMPTY: limits the connection" : ""}`);
    if (l.global_tokens !== null) out.push(`     listener-wide token_bucket: ${l.global_tokens} tokens${l.limited_by === "global" ? " -> EMPTY: limits the connection" : ""}`);
    out.push(`     => ${l.allowed ? "allowed" : "LIMITED: the connection is closed (local_ratelimit_close_over_limit)"}`);
  }
  for (const f of h?.filters ?? []) {
    if (f.kind !== "local_ratelimit") continue;
    rlCount++;
    const l = f.ratelimit;
    const settings = { filter: "the filter's config", route: "the route's typed_per_filter_config (its own buckets)", disabled: "disabled on this route" }[l.settings];
    const reached = f.reached && (h?.reached ?? false);
    out.push(`   ${httpFilterHead(f)} "${l.stat_prefix}"; ${settings}${reached ? "" : " (not reached: an earlier step decided)"}`);
    if (l.outcome === "disabled") continue;
    out.push(`     filter_enabled ${l.filter_enabled}, filter_enforced ${l.filter_enforced}${l.outcome === "inert" ? " (enabled 0%: the filter does nothing)" : ""}`);
    out.push(`     descriptors: ${l.descriptors.length === 0 ? "(none)" : l.descriptors.join(" | ")}`);
    out.push(`       (from ${l.descriptor_source})`);
    if (l.unmatched_descriptors.length > 0) out.push(`     matching no configured descriptor: ${l.unmatched_descriptors.join(" | ")}`);
    out.push(`     buckets (${l.buckets_scope === "shared" ? "shared by every connection" : "a new connection's own, full"}), in the order tokens are taken:`);
    if (l.buckets.length === 0) out.push("       (none: nothing limits this request)");
    for (const b of l.buckets) out.push(`       ${bucketLine(b)}`);
    const verdict = {
      inert: "not applied (filter_enabled 0%)",
      allowed: "allowed",
      limited_not_enforced: "limited but not enforced (filter_enforced 0%): forwarded with request_headers_to_add_when_not_enforced",
      rate_limited: `RATE LIMITED: ${l.status} local_rate_limited`,
      disabled: "disabled",
    }[l.outcome];
    out.push(`     => ${reached ? verdict : `would be: ${verdict}`}`);
  }
  if (rlCount === 0) out.push(r.filter_chain === null ? "   not reached" : "   no local rate limit filter in this filter chain");
  out.push("");

  const d = r.decision;
  const word = { forwarded: "FORWARDED", denied: "DENIED", rate_limited: "RATE LIMITED", closed: "CLOSED", local_reply: "LOCAL REPLY" }[d.outcome];
  out.push(`Decision: ${word}: ${d.summary}${d.details ? `; details ${d.details}` : ""}; decided by ${d.by}`);
  return `${out.join("\n")}\n`;
}
