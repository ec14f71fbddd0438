// Compiles the AssemblyScript sources in wasm/assembly/ to wasm/build/tollgate.wasm.
// Run by `npm run build:wasm` (and so by `npm ci` through `prepare`).
// The stub runtime is enough: the module allocates nothing per call and frees nothing;
// its memory layout is fixed and owned by wasm/index.ts (see DESIGN.md, "The WASM boundary is narrow").
import asc from "assemblyscript/asc";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, "build"), { recursive: true });
const { error, stderr } = await asc.main([
  join(here, "assembly", "index.ts"),
  "--outFile", join(here, "build", "tollgate.wasm"),
  "--textFile", join(here, "build", "tollgate.wat"),
  "--runtime", "stub",
  "--optimizeLevel", "3",
  "--shrinkLevel", "0",
  "--initialMemory", "8", // 512 KiB: the fixed regions (384 KiB, see layout.ts) + static data and heap
  "--memoryBase", String(0x60000), // MEMORY_BASE in wasm/assembly/layout.ts: the fixed regions lie below
  "--use", "abort=",
]);
if (error) {
  console.error(stderr.toString());
  console.error(`wasm build failed: ${error.message}`);
  process.exit(1);
}
