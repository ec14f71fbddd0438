// Compiled permissions and principals: built once from configuration (compile.ts), evaluated per request.
//
// Each node answers `match(req)` (the hot path: lookups and comparisons only) and `trace(req)` (explain(): evaluates
// every child without short-circuiting and reports which matched, with the config path of each). The description
// text of a node is built at config time so that trace() does not format anything the request path would; the
// exceptions (an allowlist file's entry count, and not_* around it) are built when explain() asks, never per request.
//
// The one structural optimisation: in an OR list (a policy's `permissions` or `principals`, `or_rules`, `or_ids`)
// every CIDR leaf reading the same address is merged into one CidrMatcher per address kind, so a 10 000-entry
// allowlist costs one set lookup per prefix length rather than 10 000 comparisons. OR over pure predicates is
// order-independent, so the merged form gives the same answer; trace() still reports the first matching entry
// by its position, checking the members one by one (explain is not a hot path).
import type { Cidr, IpBytes } from "../../../net/ip.js";
import type { CidrMatcher } from "../cidr-matcher.js";
import type { HeaderMatcher } from "../../network/http-connection-manager/route-config.js";
import { matchHeader, removeQueryAndFragment } from "../../network/http-connection-manager/route-match.js";
import { matchString, type StringMatcher } from "../../network/http-connection-manager/string-matcher.js";
import type { IpField, RbacRequest } from "./request.js";

export type { IpField } from "./request.js";

export interface MatchTrace {
  /** The config path of the permission or principal, e.g. `...rules.policies.office.principals[1]`. */
  readonly path: string;
  /** What it tests, e.g. `remote_ip 203.0.113.0/24`. */
  readonly text: string;
  readonly matched: boolean;
  /** For and/or/not: the children, in configuration order. */
  readonly children?: readonly MatchTrace[];
}

export interface RbacMatcher {
  readonly path: string;
  readonly text: string;
  match(req: RbacRequest): boolean;
  trace(req: RbacRequest): MatchTrace;
}

/** Whether `ip` lies in `cidr` (explain only; the request path goes through CidrMatcher). */
export function cidrContains(cidr: Cidr, ip: IpBytes): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  let bits = cidr.prefixLen;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

function leafTrace(m: RbacMatcher, req: RbacRequest): MatchTrace {
  return { path: m.path, text: m.text, matched: m.match(req) };
}

export class AnyMatcher implements RbacMatcher {
  readonly text = "any";
  constructor(readonly path: string) {}
  match(): boolean {
    return true;
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

/** A single CIDR outside an OR list (inside and_ids, not_id, ...). */
export class IpMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly field: IpField,
    private readonly set: CidrMatcher,
  ) {}
  match(req: RbacRequest): boolean {
    const ip = req.ip(this.field);
    return ip !== null && this.set.containsBytes(ip);
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

export class PortMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly port: number,
  ) {}
  match(req: RbacRequest): boolean {
    return req.local.port === this.port;
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

/** destination_port_range: [start, end), half-open as Envoy's Int32Range. */
export class PortRangeMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly start: number,
    private readonly end: number,
  ) {}
  match(req: RbacRequest): boolean {
    const p = req.local.port;
    return this.start <= p && p < this.end;
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

/** `header`: Envoy's HeaderUtility::matchHeaders; at L4 the header map is empty (so only absence tests can match). */
export class HeaderRbacMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly matcher: HeaderMatcher,
  ) {}
  match(req: RbacRequest): boolean {
    return matchHeader(this.matcher, req.header(this.matcher.name));
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

/** `url_path`: the :path without query and fragment; no :path (L4) never matches. */
export class UrlPathMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly matcher: StringMatcher,
  ) {}
  match(req: RbacRequest): boolean {
    const h = req.http;
    return h !== null && matchString(this.matcher, removeQueryAndFragment(h.path));
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

/** `requested_server_name`: the SNI, "" for plaintext connections. */
export class ServerNameMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly matcher: StringMatcher,
  ) {}
  match(req: RbacRequest): boolean {
    return matchString(this.matcher, req.serverName);
  }
  trace(req: RbacRequest): MatchTrace {
    return leafTrace(this, req);
  }
}

export class NotMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    /** `not_rule` or `not_id`. */
    private readonly name: string,
    private readonly inner: RbacMatcher,
  ) {}

  /** From the inner text when asked (explain only): an allowlist file's description changes when the file reloads. */
  get text(): string {
    return `${this.name}(${this.inner.text})`;
  }
  match(req: RbacRequest): boolean {
    return !this.inner.match(req);
  }
  trace(req: RbacRequest): MatchTrace {
    const c = this.inner.trace(req);
    return { path: this.path, text: this.text, matched: !c.matched, children: [c] };
  }
}

export class AndMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly items: readonly RbacMatcher[],
  ) {}
  match(req: RbacRequest): boolean {
    const items = this.items;
    for (let i = 0; i < items.length; i++) if (!items[i].match(req)) return false;
    return true;
  }
  trace(req: RbacRequest): MatchTrace {
    const children = this.items.map((m) => m.trace(req));
    return { path: this.path, text: this.text, matched: children.every((c) => c.matched), children };
  }
}

/** One merged CIDR group of an OR list: every leaf of the list reading `field`. */
export interface CidrGroup {
  readonly field: IpField;
  readonly set: CidrMatcher;
  /** The leaves merged into `set`, with their position in the list (for trace()). */
  readonly members: ReadonlyArray<{ readonly index: number; readonly path: string; readonly text: string; readonly cidr: Cidr }>;
}

/** An OR list: policy.permissions, policy.principals, or_rules, or_ids. */
export class OrMatcher implements RbacMatcher {
  /** Number of entries as configured (CIDR leaves included). */
  readonly size: number;

  constructor(
    readonly path: string,
    readonly text: string,
    private readonly groups: readonly CidrGroup[],
    /** Every non-CIDR entry with its position. */
    private readonly others: ReadonlyArray<{ readonly index: number; readonly matcher: RbacMatcher }>,
    size: number,
  ) {
    this.size = size;
  }

  // CIDR groups first: one set probe each, and the common allowlist case (`principals: [remote_ip, ...]`) is decided
  // there without touching the header matchers.
  match(req: RbacRequest): boolean {
    const groups = this.groups;
    for (let i = 0; i < groups.length; i++) {
      const ip = req.ip(groups[i].field);
      if (ip !== null && groups[i].set.containsBytes(ip)) return true;
    }
    const others = this.others;
    for (let i = 0; i < others.length; i++) if (others[i].matcher.match(req)) return true;
    return false;
  }

  /** Each entry's trace, in configuration order. */
  traceItems(req: RbacRequest): MatchTrace[] {
    const out: MatchTrace[] = new Array(this.size);
    for (const g of this.groups) {
      const ip = req.ip(g.field);
      for (const m of g.members) out[m.index] = { path: m.path, text: m.text, matched: ip !== null && cidrContains(m.cidr, ip) };
    }
    for (const o of this.others) out[o.index] = o.matcher.trace(req);
    return out;
  }

  trace(req: RbacRequest): MatchTrace {
    const children = this.traceItems(req);
    return { path: this.path, text: this.text, matched: children.some((c) => c.matched), children };
  }
}
