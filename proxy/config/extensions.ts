// Every extension Tollgate implements registers itself when its config module is imported; this file is the list.
// A type URL that is not registered here is refused at load with its path.
import "../filters/listener/proxy-protocol/config.js";
import "../filters/listener/tls-inspector/config.js";
import "../filters/network/http-connection-manager/config.js";
import "../filters/network/tcp-proxy/config.js";
import "../filters/network/rbac/config.js";
import "../filters/http/router/config.js";
import "../filters/http/rbac/config.js";
import "../observability/access-log/index.js";
import "../filters/http/local-ratelimit/config.js";
import "../filters/network/local-ratelimit/config.js";
import "../filters/common/rbac/principals/ip-allowlist-file.js";
