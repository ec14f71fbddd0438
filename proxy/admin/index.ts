// The admin listener. server.ts (the lifecycle) calls createAdminServer with its AdminDeps.
export { createAdminServer, handleAdminRequest, helpText, type AdminServer } from "./server.js";
export type { AdminDeps, DashboardCluster, DashboardHost, DrainOptions, ListenerStatus, ServerInfoSource, ServerState } from "./types.js";
export type { AdminResponse } from "./response.js";
