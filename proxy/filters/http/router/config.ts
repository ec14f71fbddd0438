// envoy.filters.http.router — the terminal HTTP filter. Its own config has no fields Tollgate acts on beyond the
// ones read here; everything else (upstream_log, start_child_span, ...) is refused by the strict reader.
import type { ConfigReader } from "../../../config/reader.js";
import { registerExtension } from "../../../config/registry.js";
import type { HttpFilter, HttpFilterBuildContext, HttpFilterConfig } from "../../types.js";
import { Router } from "./router.js";

export interface RouterConfig extends HttpFilterConfig {
  readonly suppressEnvoyHeaders: boolean;
}

function parseRouter(r: ConfigReader): RouterConfig {
  const suppressEnvoyHeaders = r.bool("suppress_envoy_headers", false);
  const dynamicStats = r.bool("dynamic_stats", true);
  void dynamicStats; // per-code upstream stats are always kept, as with Envoy's default (true)
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
