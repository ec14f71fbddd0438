// `npm run bench`: runs the benchmarks in bench/ one after the other, each in its own Node process (with
// tsx loaded, for benchmarks that import TypeScript sources) so one cannot warm up or pollute another.
// A benchmark that is quick and self-contained says so in its first lines:
//   // bench: standalone       runs by default
// Every other bench/*.mjs (for example one that starts upstream servers, or says `// bench: needs-servers`)
// runs only with --all. Usage: node bench/run.mjs [--all] [--quick]; --quick is passed on to the standalone ones.
// Exit status 1 if any benchmark failed.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const all = process.argv.includes("--all");
const passOn = process.argv.slice(2).filter((a) => a !== "--all");

const files = readdirSync(here)
  .filter((f) => f.endsWith(".mjs") && f !== "run.mjs")
  .sort();

let failed = 0;
for (const file of files) {
  const head = readFileSync(join(here, file), "utf8").split("\n", 10).join("\n");
  const standalone = /^\/\/ bench: standalone\b/m.test(head);
  if (!standalone && !all) {
    console.log(`\n== ${file}: skipped (not marked \`// bench: standalone\`, e.g. it starts servers); run with --all`);
    continue;
  }
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(here, file), ...(standalone ? passOn : [])], { stdio: "inherit", cwd: join(here, "..") });
  if (r.status !== 0) {
    failed++;
    console.log(`== ${file}: FAILED (${r.signal ?? `exit ${r.status}`})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
