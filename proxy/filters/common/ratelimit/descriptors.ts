// Local rate-limit descriptors (envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor) and how a
// request's descriptors find them, as in Envoy's LocalRateLimiterImpl:
//   - a configured descriptor whose entries all have values matches a request descriptor with exactly the
//     same entries, in order (one bucket, shared by every matching request);
//   - an entry with an empty value is a wildcard: the descriptor matches any request descriptor with the
//     same keys in the same order and equal values where the configuration has one, and each distinct
//     request descriptor gets its own bucket ("dynamic descriptors"). Envoy keeps max_dynamic_descriptors
//     (default 20) of those in an LRU. Tollgate does the same, except for the case that matters at the edge:
//     when the only wildcard is `remote_address`, each client gets a bucket in a WebAssembly table sized for
//     max_clients (default 1,000,000), keyed by its (prefix-masked) address.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { readTokenBucket, type TokenBucketSpec } from "./token-bucket.js";

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** A request descriptor: the entries one RateLimit policy entry produced for this request. */
export type RequestDescriptor = readonly DescriptorEntry[];

export type DescriptorKind =
  /** No wildcard: one bucket. */
  | "static"
  /** The only wildcard entry is remote_address: a bucket per client in WebAssembly. */
  | "per_client"
  /** Other wildcards: a bucket per distinct request descriptor, max_dynamic_descriptors of them (LRU). */
  | "dynamic";

export interface LocalDescriptorConfig {
  readonly entries: readonly DescriptorEntry[];
  readonly tokenBucket: TokenBucketSpec;
  readonly kind: DescriptorKind;
  /** For per_client: the index of the remote_address entry. */
  readonly clientEntry: number;
  /** Canonical text of the entries (static lookups; Envoy's toString in errors). */
  readonly text: string;
}

/** Envoy's LocalDescriptor::toString: `key=value, key=value` (used in its duplicate-descriptor error). */
export function descriptorText(entries: readonly DescriptorEntry[]): string {
  let out = "";
  for (let i = 0; i < entries.length; i++) out += `${i > 0 ? ", " : ""}${entries[i].key}=${entries[i].value}`;
  return out;
}

/** The key of a request descriptor for map lookups: keys and values cannot contain NUL, so it separates them. */
export function descriptorKey(entries: RequestDescriptor): string {
  let out = "";
  for (let i = 0; i < entries.length; i++) out += `${entries[i].key}\0${entries[i].value}\0`;
  return out;
}

export function readDescriptors(list: ConfigReader[]): LocalDescriptorConfig[] {
  const seen = new Set<string>();
  return list.map((d) => {
    const entries = d.objList("entries", { minItems: 1 }).map((e) => {
      const key = e.str("key", { required: true });
      const value = e.str("value") ?? "";
      e.done();
      return Object.freeze({ key, value });
    });
    const tokenBucket = readTokenBucket(d.obj("token_bucket", { required: true }), "descriptor token bucket");
    if (d.has("shadow_mode") && d.bool("shadow_mode", false)) {
      throw new ConfigError(d.at("shadow_mode"), "shadow-mode descriptors are not supported by Tollgate yet");
    }
    d.accept("shadow_mode");
    d.done();
    const text = descriptorKey(entries);
    if (seen.has(text)) {
      throw new ConfigError(d.path, `duplicate descriptor in the local rate descriptor: ${descriptorText(entries)}`);
    }
    seen.add(text);
    const wildcards = entries.map((e, i) => (e.value === "" ? i : -1)).filter((i) => i >= 0);
    let kind: DescriptorKind = "static";
    let clientEntry = -1;
    if (wildcards.length === 1 && entries[wildcards[0]].key === "remote_address") {
      kind = "per_client";
      clientEntry = wildcards[0];
    } else if (wildcards.length > 0) {
      kind = "dynamic";
    }
    return Object.freeze({ entries: Object.freeze(entries), tokenBucket, kind, clientEntry, text });
  });
}

/** DynamicDescriptorMap::matchDescriptorEntries: same keys in order; equal values unless the config's is a wildcard. */
export function matchesWildcard(request: RequestDescriptor, config: LocalDescriptorConfig): boolean {
  const c = config.entries;
  if (request.length !== c.length) return false;
  for (let i = 0; i < c.length; i++) {
    if (request[i].key !== c[i].key) return false;
    if (c[i].value !== "" && request[i].value !== c[i].value) return false;
  }
  return true;
}
