// The package version, read once at start-up. The module runs from proxy/ (tsx) or dist/proxy/ (compiled), so the
// package root is found by walking up to the first package.json.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageJson(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const VERSION: string = (JSON.parse(readFileSync(findPackageJson(), "utf8")) as { version: string }).version;
