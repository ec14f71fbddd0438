// What every benchmark's JSON report says about the machine it ran on, and the versions of the peers it measured.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus, loadavg } from "node:os";

const require = createRequire(import.meta.url);

/** Node/V8 versions, CPUs and the 1-minute load average at the start and the end of the run. */
export function machineInfo(loadAverage1mAtStart) {
  return {
    node: process.version,
    v8: process.versions.v8,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    platform: `${process.platform} ${process.arch}`,
    loadAverage1mAtStart,
    loadAverage1mAtEnd: loadavg()[0],
  };
}

/** The installed version of an npm package (a peer being measured). */
export function pkgVersion(name) {
  return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version;
}
