// Name resolution for STRICT_DNS and LOGICAL_DNS clusters.
//
// Addresses come from the system resolver (getaddrinfo via dns.lookup), so /etc/hosts and the resolv.conf search
// domains Kubernetes relies on apply, as with Envoy's getaddrinfo resolver. getaddrinfo reports no TTL; with
// respect_dns_ttl a DNS query for the same name is made beside it, and its smallest record TTL becomes the refresh
// interval when the query answers.
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import type { DnsLookupFamily } from "./config.js";

export interface DnsAnswer {
  /** IP literals, in resolver order, de-duplicated. */
  addresses: string[];
  /** Smallest TTL of the answer in seconds, when known. */
  ttlSeconds?: number;
}

export class DnsResolutionError extends Error {
  readonly code = "DNS_RESOLUTION_FAILED";
  constructor(readonly hostname: string, cause: unknown) {
    super(`cannot resolve '${hostname}': ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "DnsResolutionError";
  }
}

/** Resolves one name under a lookup family; rejects with DnsResolutionError when there is no usable answer. */
export type DnsResolver = (hostname: string, family: DnsLookupFamily, wantTtl: boolean) => Promise<DnsAnswer>;

/** Apply Envoy's dns_lookup_family to a mixed answer. */
export function selectFamily(addresses: readonly string[], family: DnsLookupFamily): string[] {
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  switch (family) {
    case "V4_ONLY":
      return v4;
    case "V6_ONLY":
      return v6;
    case "AUTO": // IPv6 when the name has any, else IPv4
      return v6.length > 0 ? v6 : v4;
    case "V4_PREFERRED":
      return v4.length > 0 ? v4 : v6;
    case "ALL":
      return [...v4, ...v6];
  }
}

async function ttlOf(hostname: string, addresses: readonly string[]): Promise<number | undefined> {
  const queries: Promise<{ address: string; ttl: number }[]>[] = [];
  if (addresses.some((a) => isIP(a) === 4)) queries.push(dns.resolve4(hostname, { ttl: true }));
  if (addresses.some((a) => isIP(a) === 6)) queries.push(dns.resolve6(hostname, { ttl: true }));
  const results = await Promise.allSettled(queries);
  let min: number | undefined;
  for (const r of results) {
    if (r.status !== "fulfilled") continue;
    for (const rec of r.value) if (min === undefined || rec.ttl < min) min = rec.ttl;
  }
  return min;
}

export const systemResolver: DnsResolver = async (hostname, family, wantTtl) => {
  if (isIP(hostname)) {
    const picked = selectFamily([hostname], family);
    if (picked.length === 0) throw new DnsResolutionError(hostname, new Error(`address does not match dns_lookup_family ${family}`));
    return { addresses: picked };
  }
  let found: { address: string }[];
  try {
    found = await dns.lookup(hostname, { all: true, verbatim: true });
  } catch (err) {
    throw new DnsResolutionError(hostname, err);
  }
  const addresses = selectFamily([...new Set(found.map((f) => f.address))], family);
  if (addresses.length === 0) {
    throw new DnsResolutionError(hostname, new Error(`no ${family === "V6_ONLY" ? "AAAA" : family === "V4_ONLY" ? "A" : "A/AAAA"} records`));
  }
  if (!wantTtl) return { addresses };
  const ttlSeconds = await ttlOf(hostname, addresses);
  return ttlSeconds === undefined ? { addresses } : { addresses, ttlSeconds };
};
