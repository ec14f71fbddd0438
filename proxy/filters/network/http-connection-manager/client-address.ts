// The trusted client address of an HTTP request, derived from the connection's (PROXY-restored) peer and
// X-Forwarded-For exactly as Envoy's ConnectionManagerUtility::mutateRequestHeaders does (DESIGN.md "The client
// address"). Computed once per request; RBAC remote_ip, the rate limiter's remote_address and
// %DOWNSTREAM_REMOTE_ADDRESS% all read the result. Nothing here touches a socket.
import { networkInterfaces } from "node:os";
import { formatIp, parseIp, type IpBytes } from "../../../net/ip.js";
import type { CidrMatcher } from "../../common/cidr-matcher.js";

export interface XffConfig {
  /** HCM use_remote_address. */
  readonly useRemoteAddress: boolean;
  /** HCM xff_num_trusted_hops. */
  readonly xffNumTrustedHops: number;
  /** HCM skip_xff_append. */
  readonly skipXffAppend: boolean;
  /** internal_address_config.cidr_ranges (empty by default: since Envoy 1.33 nothing is internal unless configured). */
  readonly internalAddresses: CidrMatcher;
  /** internal_address_config.unix_sockets: a peer that is not an IP address (a pipe) counts as internal. */
  readonly internalUnixSockets?: boolean;
}

export interface ClientAddressResult {
  /** The trusted client address as canonical IP text; null only when the peer is not an IP address (pipe). */
  readonly trustedAddress: string | null;
  /** True when trustedAddress was taken from X-Forwarded-For (its port is then unknown: 0). */
  readonly trustedFromXff: boolean;
  /** The X-Forwarded-For value to send upstream, or null when the header is left untouched (or stays absent). */
  readonly xffHeaderOut: string | null;
  /** Envoy's internal request: the address checks were allowed (see below) and the address is internal. */
  readonly internal: boolean;
  /** Envoy's edge request: not internal and use_remote_address. */
  readonly edge: boolean;
  /** Human-readable steps, for the explain tool; empty unless asked for. */
  readonly hopsExplained: readonly string[];
}

const NO_EXPLANATION: readonly string[] = Object.freeze([]);

/** Envoy's Network::Utility::isLoopbackAddress: 127.0.0.0/8 and ::1. */
export function isLoopback(ip: IpBytes): boolean {
  if (ip.length === 4) return ip[0] === 127;
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false;
  return ip[15] === 1;
}

/**
 * The address Envoy appends to X-Forwarded-For instead of a loopback peer: its local_info address, i.e. the first
 * non-loopback IPv4 address of the host's interfaces (Network::Utility::getLocalAddress), else 127.0.0.1.
 * Call once at config time.
 */
export function hostLocalAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4") continue;
      const ip = parseIp(a.address);
      if (ip && !isLoopback(ip)) return formatIp(ip);
    }
  }
  return "127.0.0.1";
}

// Envoy's StringUtil::ltrim/rtrim whitespace set.
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0b || c === 0x0c || c === 0x0d;
}

export interface XffEntry {
  /** The parsed address, or null when the entry is missing or not a valid IP address. */
  readonly ip: IpBytes | null;
  /** True when XFF held exactly one entry and none was skipped (Envoy's allow_trusted_address_checks). */
  readonly single: boolean;
}

/**
 * Envoy's Utility::getLastAddressFromXFF: skip `numToSkip` comma-separated entries from the right, then parse the
 * entry before them (whitespace-trimmed) strictly as an IP address. A header with fewer entries gives null.
 */
export function getLastAddressFromXff(xff: string | undefined, numToSkip: number): XffEntry {
  if (xff === undefined) return { ip: null, single: false };
  let end = xff.length;
  for (let i = 0; i < numToSkip; i++) {
    const comma = xff.lastIndexOf(",", end - 1);
    if (comma < 0 || end === 0) return { ip: null, single: false };
    end = comma;
  }
  const lastComma = end === 0 ? -1 : xff.lastIndexOf(",", end - 1);
  // Envoy only moves past the last comma when something follows it: "a," keeps "a," whole, which then fails to parse.
  let start = lastComma >= 0 && lastComma + 1 < end ? lastComma + 1 : 0;
  while (start < end && isSpace(xff.charCodeAt(start))) start++;
  while (end > start && isSpace(xff.charCodeAt(end - 1))) end--;
  const ip = parseIp(xff.slice(start, end));
  return { ip, single: ip !== null && lastComma < 0 && numToSkip === 0 };
}

/**
 * Derive the trusted client address and the X-Forwarded-For to forward.
 *
 * - use_remote_address: the request may be internal only when it carries no XFF at all. N = xff_num_trusted_hops > 0
 *   takes the Nth XFF entry from the right; a missing or invalid entry falls back to the peer. Unless skip_xff_append,
 *   the peer is appended to XFF with "," (a loopback peer appends `localIp` instead).
 * - otherwise: the (N+1)th entry from the right; the request may be internal only when XFF holds exactly one entry
 *   and N = 0. With too few entries no address comes from XFF: the peer is used, and the request is not internal.
 *
 * `xffHeader` is the request's X-Forwarded-For with repeated header lines joined by "," (as Envoy's header map does).
 * `localIp` is Envoy's local_info address (see hostLocalAddress()), not the connection's local address.
 */
export function deriveClientAddress(
  cfg: XffConfig,
  connectionRemoteIp: string,
  localIp: string,
  xffHeader: string | undefined,
  explain = false,
): ClientAddressResult {
  const steps: string[] | null = explain ? [] : null;
  const peer = parseIp(connectionRemoteIp);
  const n = cfg.xffNumTrustedHops;
  let trusted: IpBytes | null = null;
  let fromXff = false;
  let allowChecks: boolean;
  let xffOut: string | null = null;

  if (cfg.useRemoteAddress) {
    allowChecks = xffHeader === undefined;
    steps?.push(
      `use_remote_address: the peer ${connectionRemoteIp || "(not an IP)"} is trusted; ` +
        (allowChecks ? "no X-Forwarded-For, so the request may be internal" : "X-Forwarded-For is present, so the request is external"),
    );
    if (n > 0) {
      trusted = getLastAddressFromXff(xffHeader, n - 1).ip;
      fromXff = trusted !== null;
      steps?.push(
        fromXff
          ? `xff_num_trusted_hops=${n}: entry ${n} from the right of "${xffHeader}" is ${formatIp(trusted as IpBytes)}`
          : `xff_num_trusted_hops=${n}: X-Forwarded-For ${xffHeader === undefined ? "is absent" : `"${xffHeader}" has no valid entry ${n} from the right`}; using the peer`,
      );
    }
    if (trusted === null) trusted = peer;
    if (!cfg.skipXffAppend && peer !== null) {
      const appended = isLoopback(peer) ? localIp : formatIp(peer);
      xffOut = xffHeader === undefined || xffHeader === "" ? appended : `${xffHeader},${appended}`;
      steps?.push(
        isLoopback(peer)
          ? `the peer is loopback: appending the local address ${localIp} to X-Forwarded-For`
          : `appending the peer ${appended} to X-Forwarded-For`,
      );
    } else {
      steps?.push(cfg.skipXffAppend ? "skip_xff_append: X-Forwarded-For left as is" : "the peer is not an IP address: nothing appended");
    }
  } else {
    const e = getLastAddressFromXff(xffHeader, n);
    trusted = e.ip;
    allowChecks = e.single;
    fromXff = trusted !== null;
    steps?.push(
      fromXff
        ? `use_remote_address=false: entry ${n + 1} from the right of X-Forwarded-For "${xffHeader}" is ${formatIp(trusted as IpBytes)}` +
            (allowChecks ? " (its only entry, so the request may be internal)" : "")
        : `use_remote_address=false: X-Forwarded-For ${xffHeader === undefined ? "is absent" : `"${xffHeader}" has no valid entry ${n + 1} from the right`}; ` +
            "using the peer, and the request is external",
    );
  }

  let internal: boolean;
  if (!allowChecks) internal = false;
  else if (trusted !== null) internal = cfg.internalAddresses.containsBytes(trusted);
  else internal = cfg.useRemoteAddress && peer === null && cfg.internalUnixSockets === true;
  if (trusted === null && !cfg.useRemoteAddress) trusted = peer; // Envoy logs and filters the peer then.
  const edge = !internal && cfg.useRemoteAddress;
  const trustedAddress = trusted === null ? null : formatIp(trusted);
  if (steps) {
    steps.push(
      `trusted client address: ${trustedAddress ?? "(none: the peer is not an IP address)"}; ` +
        `${internal ? "internal" : "external"}${edge ? ", edge" : ""} request`,
    );
  }
  return {
    trustedAddress,
    trustedFromXff: fromXff,
    xffHeaderOut: xffOut,
    internal,
    edge,
    hopsExplained: steps ?? NO_EXPLANATION,
  };
}
