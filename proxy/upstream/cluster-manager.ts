// All clusters of one configuration, by name. Built when a configuration is compiled (no timers, no sockets);
// `initialize()` starts DNS and health checking and resolves when every cluster is warm; `close()` retires them
// when a newer configuration has taken over.
import type { StatsStore } from "../observability/stats.js";
import { clusterAdminJson, clusterAdminText } from "./admin.js";
import { Cluster, type ClusterOptions } from "./cluster.js";
import { checkUniqueClusterNames, type ClusterConfig } from "./config.js";

export class ClusterManager {
  private readonly byName = new Map<string, Cluster>();

  constructor(configs: readonly ClusterConfig[], stats: StatsStore, opts: ClusterOptions = {}) {
    checkUniqueClusterNames(configs);
    for (const c of configs) this.byName.set(c.name, new Cluster(c, stats, opts));
  }

  get(name: string): Cluster | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  clusters(): readonly Cluster[] {
    return [...this.byName.values()];
  }

  initialize(): Promise<void> {
    return Promise.all(this.clusters().map((c) => c.initialize())).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.clusters().map((c) => c.close()));
  }

  /** Envoy's `/clusters` text. */
  adminText(): string {
    return clusterAdminText(this.byName.values());
  }

  /** Envoy's `/clusters?format=json` object. */
  adminJson(): { cluster_statuses: object[] } {
    return clusterAdminJson(this.byName.values());
  }
}
