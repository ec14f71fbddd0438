// envoy.filters.http.router — the terminal HTTP filter. Its own config has no fields Tollgate acts on beyond the
// ones read here; everything else (upstream_log, start_child_span, ...) is refused by the strict reader.
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterConfig } from "../../types.js";
import { Router } from "./router.js";

export interface RouterConfig extends HttpFilterConfig {
  readonly suppressEnvoyHeaders: boolean;
}

function parseRouter(r: ConfigReader): RouterConfig {
  const suppressEnvoyHeaders = r.bool("suppress_envoy_headers", false);
  // Per-code upstream stats (upstream_rq_2xx, upstream_rq_time, ...) are always kept, as with Envoy's default (true);
  // `false` asks for them to be turned off, which Tollgate would not do, so it is refused rather than ignored.
  if (!r.bool("dynamic_stats", true)) {
    throw new ConfigError(r.at("dynamic_stats"), "false is not supported: Tollgate always keeps the per-response-code upstream stats; remove the field or set it to true");
  }
  const config: RouterConfig = {
    terminal: true,
    suppressEnvoyHeaders,
    build(ctx: HttpFilterBuildContext): HttpFilter {
      return new Router(config, ctx);
    },
  };
  return Object.freeze(config);
}

registerExtension<RouterConfig>({
  category: "http_filter",
  typeUrls: ["envoy.extensions.filters.http.router.v3.Router"],
  names: ["envoy.filters.http.router", "envoy.router"],
  parse: parseRouter,
});
