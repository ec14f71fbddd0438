// The extension registry: Envoy picks an extension by the `@type` of its `typed_config`; `name` is only a label.
// Each filter folder's config.ts registers its type URL(s) and names (current and legacy) here.
import { ConfigError } from "./errors.js";
import { ConfigReader } from "./reader.js";

export type ExtensionCategory =
  | "listener_filter"
  | "network_filter"
  | "http_filter"
  | "http_filter_per_route"
  | "access_logger"
  | "transport_socket"
  | "rbac_principal";

export interface ExtensionDef<T> {
  category: ExtensionCategory;
  /** Full type URLs, e.g. `type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol`. */
  typeUrls: readonly string[];
  /** Well-known names, current first, then legacy ones (e.g. `envoy.listener.proxy_protocol`). */
  names: readonly string[];
  /** Validate the typed_config (the reader still holds `@type`, already consumed) and return a frozen config. */
  parse(config: ConfigReader): T;
  /** Whether a bare `name` without typed_config is accepted with defaults (Tollgate's documented difference for listener filters, istio#49836). */
  nameOnlyDefaults?: boolean;
}

const byTypeUrl = new Map<string, ExtensionDef<unknown>>();
const byName = new Map<string, ExtensionDef<unknown>>();

export function registerExtension<T>(def: ExtensionDef<T>): ExtensionDef<T> {
  for (const url of def.typeUrls) byTypeUrl.set(`${def.category}|${bareTypeName(url)}`, def as ExtensionDef<unknown>);
  for (const n of def.names) byName.set(`${def.category}|${n}`, def as ExtensionDef<unknown>);
  return def;
}

export function typeUrlOf(reader: ConfigReader): string | undefined {
  return reader.str("@type");
}

/** The type URL without the `type.googleapis.com/` (or any host) prefix, as Envoy compares them. */
export function bareTypeName(url: string): string {
  const i = url.lastIndexOf("/");
  return i >= 0 ? url.slice(i + 1) : url;
}

export interface ResolvedExtension<T> {
  name: string;
  /** The extension's current well-known name (e.g. `envoy.filters.http.rbac`), whatever `name` the config gave. */
  canonicalName: string;
  typeUrl: string;
  config: T;
}

/**
 * Resolve an extension given as `{name, typed_config}` at `reader`.
 * The reader's own `done()` is called: an extension entry has no other fields we support.
 */
export function resolveExtension<T>(category: ExtensionCategory, reader: ConfigReader): ResolvedExtension<T> {
  const name = reader.str("name") ?? "";
  const tc = reader.obj("typed_config");
  reader.done();
  if (!tc) {
    const def = byName.get(`${category}|${name}`);
    if (def?.nameOnlyDefaults) {
      const config = def.parse(new ConfigReader({}, reader.at("typed_config"))) as T;
      return { name, canonicalName: def.names[0] ?? name, typeUrl: def.typeUrls[0], config };
    }
    throw new ConfigError(
      reader.at("typed_config"),
      `Didn't find a registered implementation for '${name}' with type URL: '' (a typed_config with @type is required)`,
    );
  }
  const resolved = resolveTypedConfig<T>(category, name, tc);
  return resolved;
}

/** Resolve a typed config (an Any: the reader holds `@type` and the message's fields) for the extension `name`. */
export function resolveTypedConfig<T>(category: ExtensionCategory, name: string, tc: ConfigReader): ResolvedExtension<T> {
  const url = tc.str("@type", { required: true });
  const def = byTypeUrl.get(`${category}|${bareTypeName(url)}`);
  if (!def) {
    throw new ConfigError(
      tc.at("@type"),
      `Didn't find a registered implementation for '${name}' with type URL: '${bareTypeName(url)}' (not supported by Tollgate as a ${category.replace(/_/g, " ")})`,
    );
  }
  const config = def.parse(tc) as T;
  tc.done();
  return { name, canonicalName: def.names[0] ?? name, typeUrl: bareTypeName(url), config };
}

/** Register helper: the canonical Envoy type name from a suffix such as `filters.listener.proxy_protocol.v3.ProxyProtocol`. */
export function envoyType(suffix: string): string {
  return `envoy.extensions.${suffix}`;
}
