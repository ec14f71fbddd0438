// envoy.filters.listener.proxy_protocol — configuration, validated once at load.
// Envoy's ProxyProtocol message, plus Tollgate's `trusted_sources` under its own type URL.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import { parseCidrEntry } from "../../common/cidr-config.js";
import type { Cidr } from "../../../net/ip.js";
import type { BuildContext, ListenerFilter, ListenerFilterConfig } from "../../types.js";
import { ProxyProtocolFilter } from "./filter.js";
import { ProxyProtocolStats } from "./stats.js";

export const DEFAULT_METADATA_NAMESPACE = "envoy.filters.listener.proxy_protocol";

export interface TlvRule {
  readonly tlvType: number;
  readonly namespace: string;
  readonly key: string;
  readonly valueFormat: "RAW_STRING" | "HEX_STRING";
}

export interface ProxyProtocolConfig extends ListenerFilterConfig {
  readonly rules: readonly TlvRule[];
  readonly allowRequestsWithoutProxyProtocol: boolean;
  /**
   * null: pass none through; "all": INCLUDE_ALL; otherwise the listed types. Kept on the connection
   * (conn.passThroughTlvs). In Envoy only an upstream PROXY protocol transport socket sends them on; Tollgate refuses
   * that transport socket (upstream/config.ts), so in any configuration it loads this field changes nothing a client
   * or upstream can see, exactly as in Envoy with the same configuration.
   */
  readonly passThroughTlvs: null | "all" | ReadonlySet<number>;
  readonly allowV1: boolean;
  readonly allowV2: boolean;
  readonly statPrefix: string;
  /** Tollgate: honour a header only from these direct peers; null = from every peer (Envoy's behaviour). */
  readonly trustedSources: readonly Cidr[] | null;
}

function parseProxyProtocol(r: ConfigReader, tollgate: boolean): ProxyProtocolConfig {
  const rules = r.objList("rules").map((rule) => {
    const tlvType = rule.int("tlv_type", { required: true, min: 0, max: 255 });
    const on = rule.obj("on_tlv_present", { required: true });
    const namespace = on.str("metadata_namespace") || DEFAULT_METADATA_NAMESPACE;
    const key = on.str("key", { required: true });
    const valueFormat = on.enum("value_format", ["RAW_STRING", "HEX_STRING"] as const, "RAW_STRING");
    on.done();
    rule.done();
    return Object.freeze({ tlvType, namespace, key, valueFormat });
  });
  const allowRequestsWithoutProxyProtocol = r.bool("allow_requests_without_proxy_protocol", false);
  let passThroughTlvs: ProxyProtocolConfig["passThroughTlvs"] = null;
  const pt = r.obj("pass_through_tlvs");
  if (pt) {
    const matchType = pt.enum("match_type", ["INCLUDE_ALL", "INCLUDE"] as const, "INCLUDE_ALL");
    const types = pt.list("tlv_type").map((v, i) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255) {
        throw new ConfigError(`${pt.at("tlv_type")}[${i}]`, "expected a TLV type from 0 to 255");
      }
      return v;
    });
    pt.done();
    passThroughTlvs = matchType === "INCLUDE_ALL" ? "all" : new Set(types);
  }
  const disallowed = r.list("disallowed_versions").map((v, i) => {
    if (v === "V1" || v === 0) return "V1";
    if (v === "V2" || v === 1) return "V2";
    throw new ConfigError(`${r.at("disallowed_versions")}[${i}]`, `expected V1 or V2, got ${JSON.stringify(v)}`);
  });
  const allowV1 = !disallowed.includes("V1");
  const allowV2 = !disallowed.includes("V2");
  if (!allowV1 && !allowV2) {
    throw new ConfigError(r.at("disallowed_versions"), "disallowing both V1 and V2 leaves no PROXY version to accept");
  }
  const statPrefix = r.str("stat_prefix") ?? "";
  const tlvLocation = r.enum("tlv_location", ["DYNAMIC_METADATA", "FILTER_STATE"] as const, "DYNAMIC_METADATA");
  if (tlvLocation !== "DYNAMIC_METADATA") {
    throw new ConfigError(r.at("tlv_location"), "FILTER_STATE is not supported by Tollgate; TLV rules write dynamic metadata");
  }
  let trustedSources: Cidr[] | null = null;
  if (tollgate && r.has("trusted_sources")) {
    trustedSources = r.list("trusted_sources").map((v, i) => parseCidrEntry(v, `${r.at("trusted_sources")}[${i}]`));
    if (trustedSources.length === 0) {
      throw new ConfigError(r.at("trusted_sources"), "an empty list would trust no peer; omit the field to trust every peer");
    }
  }
  const config: ProxyProtocolConfig = {
    rules: Object.freeze(rules),
    allowRequestsWithoutProxyProtocol,
    passThroughTlvs,
    allowV1,
    allowV2,
    statPrefix,
    trustedSources: trustedSources && Object.freeze(trustedSources),
    build(ctx: BuildContext): ListenerFilter {
      return new ProxyProtocolFilter(config, new ProxyProtocolStats(ctx.stats, statPrefix));
    },
  };
  return Object.freeze(config);
}

registerExtension<ProxyProtocolConfig>({
  category: "listener_filter",
  typeUrls: ["envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"],
  names: ["envoy.filters.listener.proxy_protocol", "envoy.listener.proxy_protocol"],
  nameOnlyDefaults: true,
  parse: (r) => parseProxyProtocol(r, false),
});

registerExtension<ProxyProtocolConfig>({
  category: "listener_filter",
  typeUrls: ["tollgate.extensions.filters.listener.proxy_protocol.v1.ProxyProtocol"],
  names: ["tollgate.filters.listener.proxy_protocol"],
  parse: (r) => parseProxyProtocol(r, true),
});
