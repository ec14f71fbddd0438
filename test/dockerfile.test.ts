// Checks of the Dockerfile that CI can run without a container engine or a base image: the dockerfile-utils lint,
// and that the commands the Dockerfile runs are the ones the repository actually has (npm scripts, the build's
// inputs, the entry point `npm run build` produces), and that the image agrees with the Kubernetes manifests.
// Building the image itself: .ci/build-image.sh (docs/container.md).
import test from "ava";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { validate } from "dockerfile-utils";
import { parse } from "yaml";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const inCi = process.env.CI === "true";
const dockerfileText = readFileSync(join(repo, "Dockerfile"), "utf8");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  version: string; license: string; type: string; bin: Record<string, string>; scripts: Record<string, string>; engines: { node: string };
};
const tsconfig = JSON.parse(readFileSync(join(repo, "tsconfig.json"), "utf8")) as { compilerOptions: { outDir: string; rootDir: string }; include: string[] };

// ---------------------------------------------------------------------------------------------------------------
// A small Dockerfile reader: logical lines (backslash continuations, comment lines dropped as Docker drops them),
// stages, and ARG defaults for ${VAR} in FROM. The lint below guarantees the syntax it relies on.

interface Instruction { keyword: string; args: string; line: number }
interface Stage { name: string; from: string; instructions: Instruction[] }

function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current: { text: string; line: number } | null = null;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (/^\s*#/.test(line) || (current === null && line.trim() === "")) return;
    const continued = /\\\s*$/.test(line);
    const piece = continued ? line.replace(/\\\s*$/, "") : line;
    current = current ? { text: `${current.text} ${piece.trim()}`, line: current.line } : { text: piece.trim(), line: i + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(current.text)!;
      out.push({ keyword: m[1].toUpperCase(), args: m[2], line: current.line });
      current = null;
    }
  });
  return out;
}

const all = instructions(dockerfileText);
const globalArgs = new Map<string, string>();
const stages: Stage[] = [];
for (const ins of all) {
  if (ins.keyword === "FROM") {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
    const from = m[1].replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => globalArgs.get(a ?? b) ?? "");
    stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
  } else if (stages.length === 0 && ins.keyword === "ARG") {
    const [k, v] = ins.args.split("=");
    globalArgs.set(k, v ?? "");
  } else {
    stages.at(-1)!.instructions.push(ins);
  }
}
const build = stages.find((s) => s.name === "build")!;
const runtime = stages.at(-1)!;

function of(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

function jsonForm(stage: Stage, keyword: string): string[] {
  const found = of(stage, keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in stage ${stage.name}, found ${found.length}`);
  return JSON.parse(found[0].args) as string[];
}

/** `COPY [--flags] src... dest` → { flags, sources, dest } */
function copyParts(ins: Instruction): { flags: string[]; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

function stageArg(stage: Stage, name: string): string | undefined {
  const ins = of(stage, "ARG").find((i) => i.args.startsWith(`${name}=`));
  return ins?.args.slice(name.length + 1);
}

/** Expands `npm run X` through package.json, returning every shell command the build ends up running. */
function npmScriptCommands(script: string, seen = new Set<string>()): string[] {
  if (seen.has(script)) return [];
  seen.add(script);
  const body = pkg.scripts[script];
  if (body === undefined) throw new Error(`npm script "${script}" is not in package.json`);
  return body.split(/&&|;/).map((c) => c.trim()).flatMap((c) => {
    const m = /^npm run (\S+)/.exec(c);
    return m ? npmScriptCommands(m[1], seen) : [c];
  });
}

// ---------------------------------------------------------------------------------------------------------------

test("dockerfile-utils finds no problem in the Dockerfile", (t) => {
  const problems = validate(dockerfileText).map((d) => `line ${d.range.start.line + 1}: ${String(d.message)}`);
  t.deepEqual(problems, []);
});

test("the lint does report problems (so a clean result means something)", (t) => {
  const broken = dockerfileText.replace(/^WORKDIR \/app$/m, "WORKDIR app").replace(/^USER /m, "USR ");
  const messages = validate(broken).map((d) => String(d.message));
  t.true(messages.some((m) => /WORKDIR paths should be absolute/.test(m)), messages.join("; "));
  t.true(messages.some((m) => /Unknown instruction: USR/.test(m)), messages.join("; "));
});

test("the build stage installs with npm ci, runs package.json's build script and keeps production deps only", (t) => {
  const runs = of(build, "RUN").map((r) => r.args);
  const npmCi = runs.find((r) => /\bnpm ci\b/.test(r));
  t.truthy(npmCi, "npm ci (reproducible from package-lock.json)");
  // package.json's `prepare` builds; during `npm ci` the sources are not copied in yet, so scripts must be off.
  if (pkg.scripts.prepare) t.regex(npmCi!, /--ignore-scripts/);
  t.true(runs.some((r) => /\bnpm prune --omit=dev\b/.test(r)), "npm prune --omit=dev");
  const scripts = runs.flatMap((r) => [...r.matchAll(/\bnpm run (\S+)/g)].map((m) => m[1]));
  t.deepEqual(scripts, ["build"]);
  for (const s of scripts) t.notThrows(() => npmScriptCommands(s), `npm run ${s}`);
});

test("the build stage copies in every file the build reads, after package.json/package-lock.json", (t) => {
  const copies = of(build, "COPY").map(copyParts);
  const copied = copies.flatMap((c) => c.sources);
  const firstRun = build.instructions.findIndex((i) => i.keyword === "RUN");
  const beforeInstall = build.instructions.slice(0, firstRun).filter((i) => i.keyword === "COPY").flatMap((i) => copyParts(i).sources);
  t.deepEqual(beforeInstall.sort(), ["package-lock.json", "package.json"]);

  // What `npm run build` reads: tsc's project and its include roots, and the files `node` runs.
  const needed = new Set<string>();
  for (const cmd of npmScriptCommands("build")) {
    const tsc = /^tsc -p (\S+)/.exec(cmd);
    if (tsc) {
      needed.add(tsc[1]);
      for (const inc of tsconfig.include) needed.add(inc.split("/")[0]);
    }
    const node = /^node (\S+)/.exec(cmd);
    if (node) needed.add(node[1]);
  }
  t.true(needed.size >= 3, [...needed].join(", "));
  for (const path of needed) {
    t.true(copied.some((src) => path === src || path.startsWith(`${src}/`)), `the build reads ${path}, which is not copied in`);
    t.true(existsSync(join(repo, path)), `${path} does not exist in the repository`);
  }
});

test("the entry point is the file `npm run build` produces for package.json's bin", (t) => {
  t.deepEqual(jsonForm(runtime, "ENTRYPOINT"), ["node", `/app/${pkg.bin.tollgate}`]);
  t.deepEqual(of(runtime, "WORKDIR").map((w) => w.args), ["/app"]);
  // tsc maps <rootDir>/X.ts to <outDir>/X.js.
  const { outDir, rootDir } = tsconfig.compilerOptions;
  t.true(pkg.bin.tollgate.startsWith(`${outDir}/`), `bin ${pkg.bin.tollgate} is not under tsc's outDir ${outDir}`);
  const source = join(repo, rootDir, pkg.bin.tollgate.slice(outDir.length + 1).replace(/\.js$/, ".ts"));
  t.true(tsconfig.include.some((inc) => inc.startsWith("proxy/")), "tsconfig includes proxy/");
  if (existsSync(source) || inCi) t.true(existsSync(source), `${source} (the CLI) is missing`);
  else t.log(`${source} is not written yet; in CI this fails`);
});

test("the runtime stage takes only build output and production deps, as root-owned files, and runs as uid 10001", (t) => {
  t.deepEqual(of(runtime, "RUN"), [], "the runtime stage needs nothing from its base but node");
  const copies = of(runtime, "COPY").map(copyParts);
  for (const c of copies) {
    t.true(c.flags.includes("--from=build"), `COPY ${c.sources.join(" ")} must come from the build stage`);
    t.true(c.flags.includes("--chown=0:0"), `COPY ${c.sources.join(" ")} must stay root-owned (read-only to the proxy)`);
  }
  t.deepEqual(copies.flatMap((c) => c.sources).sort(), ["/src/dist", "/src/node_modules", "/src/package.json", "/src/wasm/build"]);
  t.is(pkg.type, "module", "package.json (copied) makes dist/**/*.js ES modules");
  t.deepEqual(of(runtime, "USER").map((u) => u.args), ["10001:10001"]);
  const deployment = parse(readFileSync(join(repo, "k8s", "base", "deployment.yaml"), "utf8")) as {
    spec: { template: { spec: { securityContext: { runAsUser: number }; containers: { ports: { containerPort: number }[]; volumeMounts: { mountPath: string }[] }[] } } };
  };
  const pod = deployment.spec.template.spec;
  t.is(pod.securityContext.runAsUser, 10001, "k8s/base/deployment.yaml runs as the image's uid");
  const exposed = of(runtime, "EXPOSE").flatMap((e) => e.args.split(/\s+/)).map(Number).sort();
  t.deepEqual(exposed, pod.containers[0].ports.map((p) => p.containerPort).sort(), "EXPOSE = the Deployment's container ports");
  const cmd = jsonForm(runtime, "CMD");
  t.deepEqual(cmd.slice(0, 1), ["-c"]);
  t.true(pod.containers[0].volumeMounts.some((m) => `${m.mountPath}/tollgate.yaml` === cmd[1]), `CMD's ${cmd[1]} is where k8s mounts the config`);
});

test("both stages use one pinned Node LTS slim image that package.json's engines allow", (t) => {
  t.is(stages.length, 2);
  const image = globalArgs.get("NODE_IMAGE") ?? "";
  t.not(image, "", "ARG NODE_IMAGE=<image> before the first FROM");
  for (const s of stages) t.is(s.from, image, `stage ${s.name}`);
  const m = /^node:(\d+)-(bookworm|trixie)-slim$/.exec(image);
  t.truthy(m, `${image}: expected node:<major>-<debian>-slim (no latest, no floating lts alias)`);
  const major = Number(m?.[1]);
  t.is(major % 2, 0, "even Node majors are the LTS lines");
  const minimum = Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
  t.true(major >= minimum, `node ${major} vs engines ${pkg.engines.node}`);
});

test("OCI labels: title, description, source, licenses and the package version", (t) => {
  const labels = new Map<string, string>();
  for (const l of of(runtime, "LABEL")) {
    for (const m of l.args.matchAll(/([\w.-]+)="([^"]*)"/g)) labels.set(m[1], m[2]);
  }
  const resolveArgs = (v: string | undefined) => v?.replace(/\$\{(\w+)\}/g, (_, a: string) => stageArg(runtime, a) ?? `<unset ${a}>`);
  const oci = (k: string) => resolveArgs(labels.get(`org.opencontainers.image.${k}`));
  t.is(oci("title"), "tollgate");
  t.truthy(oci("description"));
  t.is(oci("licenses"), pkg.license);
  t.is(oci("version"), pkg.version);
  // The image the manifests deploy is the one this source label names.
  const kustomization = parse(readFileSync(join(repo, "k8s", "base", "kustomization.yaml"), "utf8")) as { images: { newName: string; newTag: string }[] };
  const gh = /^https:\/\/github\.com\/([^/]+)\/([^/]+)$/.exec(oci("source") ?? "");
  t.truthy(gh, `source ${oci("source")}`);
  t.is(kustomization.images[0].newName, `ghcr.io/${gh?.[1]}/${gh?.[2]}`);
  t.is(kustomization.images[0].newTag, pkg.version);
});

// .dockerignore, with Docker's rules: patterns anchored at the context root, `*`/`?` within one path element,
// `**` across elements, `!` re-includes, the last matching pattern wins, and an excluded directory hides its files.
function dockerignore(text: string): (path: string) => boolean {
  const rules = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const negate = l.startsWith("!");
    const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
    const re = pattern.split(/(\*\*\/?|\*|\?)/).map((part) =>
      part === "**/" ? "(?:.*/)?" : part === "**" ? ".*" : part === "*" ? "[^/]*" : part === "?" ? "[^/]" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
    ).join("");
    return { negate, re: new RegExp(`^${re}$`) };
  });
  return (path: string) => {
    const parts = path.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

test(".dockerignore keeps build output, dependencies and git out, and every COPY source in", (t) => {
  const ignored = dockerignore(readFileSync(join(repo, ".dockerignore"), "utf8"));
  for (const p of ["node_modules/yaml/package.json", "dist/proxy/cli.js", "wasm/build/tollgate.wasm", ".git/HEAD", "test/k8s.test.ts", "proxy/node_modules/x"]) {
    t.true(ignored(p), `${p} should not be sent to the builder`);
  }
  const sources = of(build, "COPY").flatMap((c) => copyParts(c).sources);
  for (const p of [...sources, "wasm/build.mjs", "wasm/assembly/index.ts", "proxy/cli.ts"]) {
    t.false(ignored(p), `${p} is needed by the build but excluded`);
  }
});
