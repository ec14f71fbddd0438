// Envoy's filter-chain selection (envoy.md §3): criteria are applied in a fixed order; at each step the chains that
// name the criterion and match it most specifically survive, chains that do not name it are the fallback, and
// chains that name it but do not match drop out. At most one chain survives (duplicates are refused at load).
import { ConfigError } from "../config/errors.js";
import { parseIp, type Cidr } from "../net/ip.js";
import { WasmCidrSet } from "../../wasm/cidr.js";
import type { DownstreamConnection } from "./connection.js";
import type { FilterChainConfig, FilterChainMatch } from "./config.js";

/** A chain's match with its address ranges compiled (at load) into WASM CIDR sets. */
export interface CompiledChainMatch {
  readonly m: FilterChainMatch;
  readonly prefixRanges: WasmCidrSet | null;
  readonly directSourcePrefixRanges: WasmCidrSet | null;
  readonly sourcePrefixRanges: WasmCidrSet | null;
}

export function compileChainMatch(m: FilterChainMatch): CompiledChainMatch {
  const set = (c: readonly Cidr[]): WasmCidrSet | null => (c.length > 0 ? new WasmCidrSet(c) : null);
  return { m, prefixRanges: set(m.prefixRanges), directSourcePrefixRanges: set(m.directSourcePrefixRanges), sourcePrefixRanges: set(m.sourcePrefixRanges) };
}

/** The longest prefix of `set` containing `ip` (Envoy prefers the most specific range), -1 when none. */
function prefixMatchLength(set: WasmCidrSet | null, ip: Uint8Array | null): number {
  return set === null || ip === null ? -1 : set.longestMatch(ip);
}

/** Exact SNI beats any wildcard; among wildcards the longest suffix wins (`*.a.example.com` over `*.example.com`). */
function serverNameScore(names: readonly string[], sni: string): number {
  if (sni === "") return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const n of names) {
    if (n === host) return Number.MAX_SAFE_INTEGER;
    if (n.startsWith("*.") && host.length > n.length - 1 && host.endsWith(n.slice(1)) && n.length > best) best = n.length;
  }
  return best;
}

function isLoopback(ip: string): boolean {
  return ip === "::1" || ip.startsWith("127.");
}

type Step = (c: CompiledChainMatch) => { specified: boolean; score: number };

function narrow<T extends { match: CompiledChainMatch }>(chains: T[], step: Step): T[] {
  let best = -1;
  let specified: T[] = [];
  const unspecified: T[] = [];
  for (const c of chains) {
    const r = step(c.match);
    if (!r.specified) unspecified.push(c);
    else if (r.score >= 0) {
      if (r.score > best) {
        best = r.score;
        specified = [c];
      } else if (r.score === best) specified.push(c);
    }
  }
  return specified.length > 0 ? specified : unspecified;
}

export function selectFilterChain<T extends { match: CompiledChainMatch }>(chains: readonly T[], conn: DownstreamConnection): T | null {
  if (chains.length === 0) return null;
  let c = chains.slice();
  const localIp = parseIp(conn.local.ip);
  const directIp = parseIp(conn.directRemote.ip);
  const remoteIp = parseIp(conn.remote.ip);
  c = narrow(c, ({ m }) => ({ specified: m.destinationPort !== null, score: m.destinationPort === conn.local.port ? 0 : -1 }));
  c = narrow(c, (x) => ({ specified: x.prefixRanges !== null, score: prefixMatchLength(x.prefixRanges, localIp) }));
  c = narrow(c, ({ m }) => ({ specified: m.serverNames.length > 0, score: serverNameScore(m.serverNames, conn.requestedServerName) }));
  c = narrow(c, ({ m }) => ({ specified: m.transportProtocol !== "", score: m.transportProtocol === conn.transportProtocol ? 0 : -1 }));
  c = narrow(c, ({ m }) => ({
    specified: m.applicationProtocols.length > 0,
    score: conn.applicationProtocols.some((p) => m.applicationProtocols.includes(p)) ? 0 : -1,
  }));
  c = narrow(c, (x) => ({ specified: x.directSourcePrefixRanges !== null, score: prefixMatchLength(x.directSourcePrefixRanges, directIp) }));
  c = narrow(c, ({ m }) => {
    if (m.sourceType === "ANY") return { specified: false, score: 0 };
    const local = isLoopback(conn.remote.ip) || conn.remote.ip === conn.local.ip;
    return { specified: true, score: (m.sourceType === "SAME_IP_OR_LOOPBACK") === local ? 0 : -1 };
  });
  c = narrow(c, (x) => ({ specified: x.sourcePrefixRanges !== null, score: prefixMatchLength(x.sourcePrefixRanges, remoteIp) }));
  c = narrow(c, ({ m }) => ({ specified: m.sourcePorts.length > 0, score: m.sourcePorts.includes(conn.remote.port) ? 0 : -1 }));
  return c[0] ?? null;
}

/** Envoy refuses two chains with the same match: the second could never be chosen. */
export function checkDistinctMatches(chains: readonly FilterChainConfig[], path: string): void {
  const seen = new Map<string, number>();
  chains.forEach((c, i) => {
    const key = JSON.stringify(c.match, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v));
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw new ConfigError(`${path}[${i}].filter_chain_match`, `multiple filter chains with the same matching rules are defined (same as filter_chains[${prev}])`);
    }
    seen.set(key, i);
  });
}
