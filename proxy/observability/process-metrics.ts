// Node's process metrics (prom-client's default collectors), without synchronous I/O on the scrape path.
//
// prom-client reads /proc/self/fd (readdirSync) and /proc/self/status (readFileSync) synchronously on every scrape
// for four of its default metrics. Tollgate does no synchronous I/O after start-up (test/no-sync-io.test.ts), so
// those four are replaced by the same metrics collected with fs/promises; prom-client awaits async collect().
import { readdir, readFile } from "node:fs/promises";
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";

const LINUX = process.platform === "linux";

/** VmRSS / VmSize / VmData from /proc/self/status, in bytes. */
async function procStatus(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await readFile("/proc/self/status", "utf8");
  for (const line of text.split("\n")) {
    const m = /^(VmRSS|VmSize|VmData):\s+(\d+) kB/.exec(line);
    if (m) out.set(m[1], Number(m[2]) * 1024);
  }
  return out;
}

export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  if (!LINUX) return;
  for (const name of ["process_open_fds", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_heap_bytes"]) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    registers: [registry],
    async collect() {
      try {
        this.set((await readdir("/proc/self/fd")).length - 1); // minus the descriptor readdir itself held
      } catch {
        // No procfs: leave the last value.
      }
    },
  });
  // One read of /proc/self/status serves the three memory gauges of a scrape.
  let pending: Promise<Map<string, number>> | null = null;
  const status = (): Promise<Map<string, number>> => {
    pending ??= procStatus().finally(() => setImmediate(() => (pending = null)));
    return pending;
  };
  const memory = (name: string, help: string, field: string): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        try {
          const v = (await status()).get(field);
          if (v !== undefined) this.set(v);
        } catch {
          // No procfs: leave the last value.
        }
      },
    });
  };
  memory("process_resident_memory_bytes", "Resident memory size in bytes.", "VmRSS");
  memory("process_virtual_memory_bytes", "Virtual memory size in bytes.", "VmSize");
  memory("process_heap_bytes", "Process heap size in bytes.", "VmData");
}
