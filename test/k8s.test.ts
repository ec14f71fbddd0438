// Checks of the Kubernetes manifests in k8s/: every overlay is rendered with `kubectl kustomize`, each object is
// validated against the Kubernetes (and prometheus-operator) schemas offline, misspelt fields are caught by
// typechecking the objects against the kubernetes-models interfaces, each overlay's Service annotations are
// compared exactly, the blog post's `kubectl annotate` commands are replayed against our Service, and the pod
// spec is held to the policies docs/container.md promises (non-root, read-only root FS, probes, drain timing...).
// The shipped bootstraps are run through `tollgate --mode validate` once dist/proxy/cli.js exists.
import test from "ava";
import type { ExecutionContext } from "ava";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isScalar, parse, parseAllDocuments, Scalar } from "yaml";
import type { YAMLMap } from "yaml";
import { ConfigMap, type IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service, type IService } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget, type IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy, type INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ServiceMonitor, type IServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const k8s = join(repo, "k8s");
const inCi = process.env.CI === "true";
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

const OVERLAYS = ["digitalocean", "aws-nlb", "aws-clb"] as const;
type Overlay = (typeof OVERLAYS)[number];

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Tools. Outside CI a missing tool skips its tests; in CI (CI=true) it fails them, so nothing passes unchecked.

const kubectlFound = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).status === 0;
const needsKubectl = kubectlFound || inCi ? test : test.skip;

/** Fails the test (and tells the caller to stop) when kubectl is missing, which only happens with CI=true. */
function kubectlMissing(t: ExecutionContext): boolean {
  if (kubectlFound) return false;
  t.fail("kubectl (with kustomize) is required to check k8s/ and was not found on PATH (CI=true)");
  return true;
}

function kubectl(args: string[], input?: string): string {
  const r = spawnSync("kubectl", args, { encoding: "utf8", input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering. A "variant" is an overlay as shipped, or an overlay plus optional components (rendered through a
// throwaway kustomization that refers to them by relative path: kustomize refuses absolute ones).

interface Variant { name: string; overlay: Overlay | "base"; components: string[] }

const VARIANTS: Variant[] = [
  { name: "base", overlay: "base", components: [] },
  ...OVERLAYS.map((o): Variant => ({ name: o, overlay: o, components: [] })),
  ...OVERLAYS.map((o): Variant => ({ name: `${o}+servicemonitor`, overlay: o, components: ["components/servicemonitor"] })),
  { name: "digitalocean+lb-hostname", overlay: "digitalocean", components: ["overlays/digitalocean/optional/lb-hostname"] },
];

const rendered = new Map<string, K8sObject[]>();

function overlayDir(overlay: Overlay | "base"): string {
  return overlay === "base" ? join(k8s, "base") : join(k8s, "overlays", overlay);
}

function render(v: Variant): K8sObject[] {
  const cached = rendered.get(v.name);
  if (cached) return cached;
  let out: string;
  if (v.components.length === 0) {
    out = kubectl(["kustomize", overlayDir(v.overlay)]);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-kustomize-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        `  - ${relative(dir, overlayDir(v.overlay))}`,
        "components:",
        ...v.components.map((c) => `  - ${relative(dir, join(k8s, c))}`),
        "",
      ].join("\n"));
      out = kubectl(["kustomize", dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const objects = parseAllDocuments(out).map((d) => d.toJSON() as K8sObject).filter((o) => o !== null);
  rendered.set(v.name, objects);
  return objects;
}

function one<T>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` named ${name}` : ""}, found ${found.length}`);
  return found[0] as unknown as T;
}

function lbService(objects: K8sObject[]): IService {
  return one<IService>(objects, "Service", "tollgate");
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas: kubernetes-models validates values and required fields, but its schemas allow unknown properties.
// Misspelt fields are caught by a second pass: each object becomes a TypeScript object literal checked with
// `satisfies I<Kind>`, whose excess-property check rejects any key the interface does not declare, at any depth.

interface Model { validate(): void }
interface KindInfo { model: new (data: never) => Model; module: string; iface: string }

const KINDS: Record<string, KindInfo> = {
  "v1/Namespace": { model: Namespace, module: "kubernetes-models/v1/Namespace", iface: "INamespace" },
  "v1/ServiceAccount": { model: ServiceAccount, module: "kubernetes-models/v1/ServiceAccount", iface: "IServiceAccount" },
  "v1/ConfigMap": { model: ConfigMap, module: "kubernetes-models/v1/ConfigMap", iface: "IConfigMap" },
  "v1/Service": { model: Service, module: "kubernetes-models/v1/Service", iface: "IService" },
  "apps/v1/Deployment": { model: Deployment, module: "kubernetes-models/apps/v1/Deployment", iface: "IDeployment" },
  "policy/v1/PodDisruptionBudget": { model: PodDisruptionBudget, module: "kubernetes-models/policy/v1/PodDisruptionBudget", iface: "IPodDisruptionBudget" },
  "autoscaling/v2/HorizontalPodAutoscaler": { model: HorizontalPodAutoscaler, module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler", iface: "IHorizontalPodAutoscaler" },
  "networking.k8s.io/v1/NetworkPolicy": { model: NetworkPolicy, module: "kubernetes-models/networking.k8s.io/v1/NetworkPolicy", iface: "INetworkPolicy" },
  "monitoring.coreos.com/v1/ServiceMonitor": { model: ServiceMonitor, module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor", iface: "IServiceMonitor" },
};

function kindInfo(o: K8sObject): KindInfo {
  const info = KINDS[`${o.apiVersion}/${o.kind}`];
  if (!info) throw new Error(`no schema known for ${o.apiVersion} ${o.kind} (${o.metadata?.name}): add it to KINDS`);
  return info;
}

/** Typechecks objects against their kubernetes-models interfaces; returns one message per problem. */
function typecheck(objects: { label: string; object: K8sObject }[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-k8s-typecheck-"));
  try {
    const nm = join(repo, "node_modules");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, skipLibCheck: true, target: "ES2022", module: "preserve", moduleResolution: "bundler", types: [],
        paths: {
          "kubernetes-models/*": [join(nm, "kubernetes-models/*")],
          "@kubernetes-models/prometheus-operator/*": [join(nm, "@kubernetes-models/prometheus-operator/*")],
        },
      },
      include: ["*.ts"],
    }));
    objects.forEach(({ object }, i) => {
      const info = kindInfo(object);
      writeFileSync(join(dir, `o${i}.ts`),
        `import type { ${info.iface} } from ${JSON.stringify(info.module)};\n` +
        `export const o = ${JSON.stringify(object, null, 1)} satisfies ${info.iface};\n`);
    });
    const r = spawnSync(process.execPath, [join(nm, "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json"), "--pretty", "false"],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    if (r.status === 0) return [];
    const problems = r.stdout.split("\n").filter((l) => l.includes("error TS")).map((line) => {
      const m = /o(\d+)\.ts\(\d+,\d+\): (.*)$/.exec(line);
      return m ? `${objects[Number(m[1])].label}: ${m[2]}` : line;
    });
    return problems.length > 0 ? problems : [`tsc failed without diagnostics: ${r.stderr || r.stdout}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

needsKubectl("every object of every variant passes the Kubernetes / prometheus-operator schema", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    t.true(objects.length >= 8, `${v.name}: rendered only ${objects.length} objects`);
    for (const o of objects) {
      const info = kindInfo(o);
      try {
        new info.model(o as never).validate();
      } catch (e) {
        t.fail(`${v.name}: ${o.kind}/${o.metadata.name} is invalid: ${(e as Error).message}`);
      }
    }
  }
});

needsKubectl("no object of any variant has a field its schema does not declare", (t) => {
  if (kubectlMissing(t)) return;
  const all: { label: string; object: K8sObject }[] = [];
  const seen = new Set<string>();
  for (const v of VARIANTS) {
    for (const o of render(v)) {
      const key = JSON.stringify(o);
      if (seen.has(key)) continue;
      seen.add(key);
      all.push({ label: `${v.name}: ${o.kind}/${o.metadata.name}`, object: o });
    }
  }
  t.deepEqual(typecheck(all), []);
});

needsKubectl("the misspelt-field check rejects a misspelt field at any depth and accepts the correct spelling", (t) => {
  if (kubectlMissing(t)) return;
  const deployment = one<K8sObject>(render(VARIANTS[1]), "Deployment");
  const misspell = (o: K8sObject): K8sObject => {
    const copy = structuredClone(o) as IDeployment;
    const container = copy.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    return copy as unknown as K8sObject;
  };
  const monitor = one<K8sObject>(render(VARIANTS.find((v) => v.name === "aws-nlb+servicemonitor")!), "ServiceMonitor");
  const badMonitor = structuredClone(monitor) as unknown as { spec: { endpoints: Record<string, unknown>[] } };
  badMonitor.spec.endpoints[0].pth = badMonitor.spec.endpoints[0].path;
  delete badMonitor.spec.endpoints[0].path;

  const problems = typecheck([
    { label: "good", object: deployment },
    { label: "bad-deployment", object: misspell(deployment) },
    { label: "bad-monitor", object: badMonitor as unknown as K8sObject },
  ]);
  t.is(problems.length, 2, problems.join("\n"));
  t.regex(problems.find((p) => p.startsWith("bad-deployment")) ?? "", /'"?readinesProbe"?' does not exist/);
  t.regex(problems.find((p) => p.startsWith("bad-monitor")) ?? "", /'"?pth"?' does not exist/);
});

// ---------------------------------------------------------------------------------------------------------------
// Service annotations, exactly. Values are strings everywhere (kubernetes#59113: a YAML boolean drops them all).

const P = "service.beta.kubernetes.io/";
const EXPECTED_ANNOTATIONS: Record<Overlay, Record<string, string>> = {
  digitalocean: {
    [`${P}do-loadbalancer-enable-proxy-protocol`]: "true",
    [`${P}do-loadbalancer-type`]: "REGIONAL",
    [`${P}do-loadbalancer-protocol`]: "tcp",
    [`${P}do-loadbalancer-healthcheck-check-interval-seconds`]: "3",
    [`${P}do-loadbalancer-healthcheck-response-timeout-seconds`]: "5",
    [`${P}do-loadbalancer-healthcheck-unhealthy-threshold`]: "3",
    [`${P}do-loadbalancer-healthcheck-healthy-threshold`]: "5",
  },
  "aws-nlb": {
    [`${P}aws-load-balancer-type`]: "external",
    [`${P}aws-load-balancer-nlb-target-type`]: "ip",
    [`${P}aws-load-balancer-scheme`]: "internet-facing",
    [`${P}aws-load-balancer-proxy-protocol`]: "*",
    [`${P}aws-load-balancer-target-group-attributes`]:
      "deregistration_delay.timeout_seconds=60,deregistration_delay.connection_termination.enabled=true,preserve_client_ip.enabled=false",
    [`${P}aws-load-balancer-attributes`]: "load_balancing.cross_zone.enabled=true",
    [`${P}aws-load-balancer-healthcheck-protocol`]: "tcp",
    [`${P}aws-load-balancer-healthcheck-port`]: "traffic-port",
    [`${P}aws-load-balancer-healthcheck-interval`]: "10",
    [`${P}aws-load-balancer-healthcheck-timeout`]: "10",
    [`${P}aws-load-balancer-healthcheck-healthy-threshold`]: "3",
    [`${P}aws-load-balancer-healthcheck-unhealthy-threshold`]: "3",
  },
  "aws-clb": {
    [`${P}aws-load-balancer-proxy-protocol`]: "*",
    [`${P}aws-load-balancer-backend-protocol`]: "tcp",
    [`${P}aws-load-balancer-connection-draining-enabled`]: "true",
    [`${P}aws-load-balancer-connection-draining-timeout`]: "60",
    [`${P}aws-load-balancer-connection-idle-timeout`]: "60",
    [`${P}aws-load-balancer-cross-zone-load-balancing-enabled`]: "true",
    [`${P}aws-load-balancer-healthcheck-interval`]: "10",
    [`${P}aws-load-balancer-healthcheck-timeout`]: "5",
    [`${P}aws-load-balancer-healthcheck-healthy-threshold`]: "2",
    [`${P}aws-load-balancer-healthcheck-unhealthy-threshold`]: "2",
  },
};

needsKubectl("each overlay's LoadBalancer Service carries exactly its annotations; the base carries none", (t) => {
  if (kubectlMissing(t)) return;
  t.is(lbService(render(VARIANTS[0])).metadata?.annotations, undefined);
  for (const o of OVERLAYS) {
    t.deepEqual(lbService(render({ name: o, overlay: o, components: [] })).metadata?.annotations, EXPECTED_ANNOTATIONS[o], o);
  }
  const withHostname = lbService(render(VARIANTS.find((v) => v.name === "digitalocean+lb-hostname")!));
  t.deepEqual(withHostname.metadata?.annotations, {
    ...EXPECTED_ANNOTATIONS.digitalocean,
    [`${P}do-loadbalancer-hostname`]: "tollgate.example.com",
  });
});

/** The YAML files under k8s/, relative to the repository. */
function k8sYamlFiles(): string[] {
  return (readdirSync(k8s, { recursive: true }) as string[]).filter((f) => f.endsWith(".yaml")).map((f) => join("k8s", f)).sort();
}

// Kubernetes reads manifests as YAML 1.1, where yes/no/on/off are booleans too.
const YAML11_NON_STRING = /^(y|n|yes|no|true|false|on|off|null|~|[-+]?(\.?[0-9].*|\.inf|\.nan))$/i;

test("annotation values in the k8s/ sources are quoted strings, label values are strings to YAML 1.1", (t) => {
  const files = k8sYamlFiles().filter((f) => !f.endsWith("kustomization.yaml") && !f.endsWith("/tollgate.yaml"));
  t.true(files.length >= 10, `found only ${files.length} manifest files under k8s/`);
  let annotations = 0;
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(repo, file), "utf8"))) {
      const meta = doc.get("metadata", true);
      if (!isMap(meta)) continue;
      for (const field of ["annotations", "labels"] as const) {
        const map = (meta as YAMLMap).get(field, true);
        if (!isMap(map)) continue;
        for (const pair of map.items) {
          const key = isScalar(pair.key) ? String(pair.key.value) : "?";
          const value = pair.value;
          const quoted = isScalar(value) && (value.type === Scalar.QUOTE_DOUBLE || value.type === Scalar.QUOTE_SINGLE);
          if (field === "annotations") {
            t.true(quoted, `${file}: annotation ${key} must be a quoted string`);
            annotations++;
          } else {
            t.true(quoted || (isScalar(value) && typeof value.value === "string" && !YAML11_NON_STRING.test(value.value)),
              `${file}: label ${key} must be a string (quote it)`);
          }
        }
      }
    }
  }
  t.true(annotations >= 30, `checked only ${annotations} annotations`);
});

// ---------------------------------------------------------------------------------------------------------------
// The blog post (shared/reference/000_b3f1ca92886eb0b2.txt) enables PROXY with `kubectl annotate`; replaying its
// commands against our base Service must give the same annotation our overlays ship.

const blogPath = resolve(repo, "..", "shared", "reference", "000_b3f1ca92886eb0b2.txt");
const blogFound = existsSync(blogPath);
const needsBlog = (kubectlFound && blogFound) || inCi ? test : test.skip;

/** Splits a shell command line into words (double and single quotes; no expansions needed here). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\\.)|(\s+)|([^\s"'\\]+)/g;
  let current: string | null = null;
  for (const m of line.matchAll(re)) {
    if (m[4] !== undefined) {
      if (current !== null) words.push(current);
      current = null;
    } else {
      current = (current ?? "") + (m[1] ?? m[2] ?? (m[3] ? m[3][1] : undefined) ?? m[5]);
    }
  }
  if (current !== null) words.push(current);
  return words;
}

interface BlogCommand { section: string; words: string[] }

function blogAnnotateCommands(text: string): BlogCommand[] {
  const commands: BlogCommand[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) section = line.replace(/^#+\s*/, "");
    if (/^\s*kubectl annotate /.test(line)) commands.push({ section, words: shellWords(line.trim()) });
  }
  return commands;
}

/** The blog's arguments minus the target (`svc NAME`, `-n NS`): those become `--local -f <our Service>`. */
function annotateArgs(words: string[]): string[] {
  const args: string[] = [];
  for (let i = 2; i < words.length; i++) {
    const w = words[i];
    if (w === "-n" || w === "--namespace") { i++; continue; }
    if (w.startsWith("--namespace=")) continue;
    if (w.startsWith("-") || w.includes("=") || w.endsWith("-")) args.push(w);
  }
  return args;
}

needsBlog("the blog's `kubectl annotate` commands yield the annotations our overlays ship", (t) => {
  if (!blogFound) return t.fail(`the blog post is missing: expected ${blogPath} (shared/ beside the clone; CI=true)`);
  if (kubectlMissing(t)) return;
  const commands = blogAnnotateCommands(readFileSync(blogPath, "utf8"));
  t.is(commands.length, 2, `expected the DigitalOcean and the AWS classic commands, found: ${JSON.stringify(commands)}`);
  // The blog's sections say which LB each command is for.
  const target = (c: BlogCommand): Overlay[] =>
    /\bDO\b|digitalocean/i.test(c.section) ? ["digitalocean"] : /aws/i.test(c.section) ? ["aws-clb", "aws-nlb"] : [];
  const dir = mkdtempSync(join(tmpdir(), "tollgate-annotate-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const baseService = join(dir, "service.json");
  writeFileSync(baseService, JSON.stringify(lbService(render(VARIANTS[0]))));
  for (const c of commands) {
    const overlays = target(c);
    t.not(overlays.length, 0, `cannot tell which LB the blog's section "${c.section}" is about`);
    const args = annotateArgs(c.words);
    t.true(args.some((a) => a.includes("=")), `no annotation in ${c.words.join(" ")}`);
    const out = JSON.parse(kubectl(["annotate", "--local", "-f", baseService, "-o", "json", ...args])) as IService;
    const fromBlog = out.metadata?.annotations ?? {};
    t.not(Object.keys(fromBlog).length, 0);
    for (const overlay of overlays) {
      const ours = lbService(render({ name: overlay, overlay, components: [] })).metadata?.annotations ?? {};
      for (const [key, value] of Object.entries(fromBlog)) {
        t.is(ours[key], value, `${overlay}: ${key} (blog: ${JSON.stringify(value)})`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Policy: the pod spec and its companions.

function podOf(objects: K8sObject[]) {
  const d = one<IDeployment>(objects, "Deployment", "tollgate");
  const pod = d.spec!.template.spec!;
  const container = pod.containers.find((c) => c.name === "tollgate")!;
  return { d, pod, container };
}

function argValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

needsKubectl("pods run as uid 10001 with a read-only root FS, no privilege escalation and no capabilities", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const { pod, container } = podOf(render(v));
    t.like(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } }, v.name);
    const sc = container.securityContext!;
    t.like(sc, { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }, v.name);
    t.deepEqual(sc.capabilities?.drop, ["ALL"], v.name);
    t.is(sc.capabilities?.add, undefined, v.name);
    t.not(sc.privileged, true, v.name);
    t.false(pod.hostNetwork ?? false, v.name);
    // With a read-only root, the only writable place is the /tmp emptyDir.
    const tmp = container.volumeMounts?.find((m) => m.mountPath === "/tmp");
    t.truthy(tmp, `${v.name}: /tmp must be mounted`);
    t.truthy(pod.volumes?.find((vol) => vol.name === tmp?.name)?.emptyDir, `${v.name}: /tmp must be an emptyDir`);
    t.false(pod.automountServiceAccountToken ?? true, v.name);
  }
});

needsKubectl("images carry the package version as tag, never latest", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const { pod } = podOf(render(v));
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const m = /^(.+\/[^:/]+):([^:/@]+)$/.exec(c.image ?? "");
      t.truthy(m, `${v.name}: image ${c.image} must be registry/name:tag`);
      t.not(m?.[2], "latest", v.name);
      t.is(m?.[2], pkg.version, `${v.name}: image tag must be the package version`);
    }
  }
});

needsKubectl("the config is a directory mount of the generated ConfigMap, never subPath", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    const { pod, container } = podOf(objects);
    for (const m of container.volumeMounts ?? []) t.is(m.subPath ?? m.subPathExpr, undefined, `${v.name}: ${m.mountPath} uses subPath`);
    const mount = container.volumeMounts?.find((m) => m.mountPath === "/etc/tollgate");
    t.truthy(mount, v.name);
    t.true(mount?.readOnly, v.name);
    const cmName = pod.volumes?.find((vol) => vol.name === mount?.name)?.configMap?.name;
    const cm = one<IConfigMap>(objects, "ConfigMap", cmName);
    t.deepEqual(Object.keys(cm.data ?? {}).sort(), ["allowlist.txt", "tollgate.yaml"], v.name);
    t.is(argValue(container.args ?? [], "-c"), "/etc/tollgate/tollgate.yaml", v.name);
    // The overlay's own bootstrap, not the base's, is what the pods get.
    t.is(cm.data?.["tollgate.yaml"], readFileSync(join(overlayDir(v.overlay), "tollgate.yaml"), "utf8"), v.name);
  }
});

needsKubectl("probes use the admin port: readiness /ready, liveness a path that stays 200 while draining", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    const { container } = podOf(objects);
    const adminPort = container.ports?.find((p) => p.name === "admin")?.containerPort;
    t.is(adminPort, bootstrapOf(objects).admin.address.socket_address.port_value, `${v.name}: the admin port is the bootstrap's`);
    t.like(container.readinessProbe?.httpGet, { path: "/ready", port: "admin" }, v.name);
    t.like(container.livenessProbe?.httpGet, { path: "/server_info", port: "admin" }, v.name);
    t.true((container.livenessProbe?.failureThreshold ?? 3) * (container.livenessProbe?.periodSeconds ?? 10) >= 30, v.name);
    t.truthy(container.resources?.requests?.cpu, v.name);
    t.truthy(container.resources?.requests?.memory, v.name);
    t.truthy(container.resources?.limits?.memory, v.name);
  }
});

/** The LB's time to notice a gone target, in seconds, from the overlay's own annotations. */
function lbDetectionSeconds(overlay: Overlay, a: Record<string, string>): number {
  if (overlay === "digitalocean") {
    return Number(a[`${P}do-loadbalancer-healthcheck-check-interval-seconds`]) * Number(a[`${P}do-loadbalancer-healthcheck-unhealthy-threshold`]);
  }
  return Number(a[`${P}aws-load-balancer-healthcheck-interval`]) * Number(a[`${P}aws-load-balancer-healthcheck-unhealthy-threshold`]);
}

needsKubectl("shutdown timing: preStop covers the LB's detection time, the grace period covers preStop + drain, the LB drains longer", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    const { pod, container } = podOf(objects);
    const preStop = container.lifecycle?.preStop?.sleep?.seconds;
    t.true(typeof preStop === "number" && preStop > 0, `${v.name}: preStop must be a sleep action`);
    const drain = Number(argValue(container.args ?? [], "--drain-time-s"));
    t.true(drain > 0, `${v.name}: --drain-time-s`);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    t.true(grace > preStop! + drain, `${v.name}: terminationGracePeriodSeconds ${grace} must exceed preStop ${preStop} + drain ${drain}`);
    if (v.overlay === "base") continue;
    const a = lbService(objects).metadata?.annotations ?? {};
    t.true(preStop! >= lbDetectionSeconds(v.overlay, a), `${v.name}: preStop ${preStop} shorter than the LB's detection time`);
    if (v.overlay === "aws-nlb") {
      const tg = a[`${P}aws-load-balancer-target-group-attributes`];
      const delay = Number(/deregistration_delay\.timeout_seconds=(\d+)/.exec(tg)?.[1]);
      t.true(delay >= preStop! + drain, `${v.name}: deregistration delay ${delay} < preStop + drain`);
    }
    if (v.overlay === "aws-clb") {
      t.true(Number(a[`${P}aws-load-balancer-connection-draining-timeout`]) >= preStop! + drain, `${v.name}: CLB draining < preStop + drain`);
    }
  }
});

needsKubectl("replicas, spread, PDB and HPA keep one pod serving through drains and rollouts", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    const { d, pod } = podOf(objects);
    t.true((d.spec?.replicas ?? 1) >= 2, v.name);
    t.is(d.spec?.strategy?.rollingUpdate?.maxUnavailable, 0, v.name);
    const keys = (pod.topologySpreadConstraints ?? []).map((c) => c.topologyKey).sort();
    t.deepEqual(keys, ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], v.name);
    const podLabels = d.spec!.template.metadata!.labels!;
    const selects = (sel: Record<string, string> | undefined) => !!sel && Object.entries(sel).every(([k, val]) => podLabels[k] === val);
    const pdb = one<IPodDisruptionBudget>(objects, "PodDisruptionBudget");
    t.is(pdb.spec?.minAvailable, 1, v.name);
    t.true(selects(pdb.spec?.selector?.matchLabels), `${v.name}: the PDB selects the pods`);
    const hpa = one<IHorizontalPodAutoscaler>(objects, "HorizontalPodAutoscaler");
    t.like(hpa.spec?.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: d.metadata?.name }, v.name);
    t.true((hpa.spec?.minReplicas ?? 1) >= 2, v.name);
    t.is(hpa.spec?.metrics?.[0]?.resource?.name, "cpu", v.name);
    for (const o of objects) {
      if (o.kind === "Namespace") continue;
      t.is(o.metadata.namespace, "tollgate", `${v.name}: ${o.kind}/${o.metadata.name} namespace`);
    }
  }
});

needsKubectl("the LB Service maps 80/443 onto the proxy ports and never exposes admin; the NetworkPolicy admits admin only from monitoring", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS) {
    const objects = render(v);
    const { container } = podOf(objects);
    const portNamed = (name: unknown) => container.ports?.find((p) => p.name === name)?.containerPort;
    const svc = lbService(objects);
    t.is(svc.spec?.type, "LoadBalancer", v.name);
    t.is(svc.spec?.externalTrafficPolicy, "Cluster", v.name);
    t.deepEqual(svc.spec?.ports?.map((p) => [p.name, p.port, portNamed(p.targetPort)]), [["http", 80, 10000], ["https", 443, 10443]], v.name);
    const listenerPorts = bootstrapOf(objects).static_resources.listeners.map((l) => l.address.socket_address.port_value).sort();
    t.deepEqual(listenerPorts, [10000, 10443], `${v.name}: the Service's target ports are the bootstrap's listeners`);

    const np = one<INetworkPolicy>(objects, "NetworkPolicy");
    const rules = np.spec?.ingress ?? [];
    const open = rules.filter((r) => !r.from || r.from.length === 0);
    t.deepEqual(open.flatMap((r) => (r.ports ?? []).map((p) => p.port)).sort(), [10000, 10443], `${v.name}: open ports`);
    const admin = rules.filter((r) => (r.ports ?? []).some((p) => p.port === 9901 || p.port === "admin"));
    t.is(admin.length, 1, v.name);
    t.deepEqual(admin[0]?.from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], v.name);
  }
});

needsKubectl("the ServiceMonitor scrapes /stats/prometheus through a ClusterIP admin Service", (t) => {
  if (kubectlMissing(t)) return;
  for (const v of VARIANTS.filter((x) => x.components.includes("components/servicemonitor"))) {
    const objects = render(v);
    const { d, container } = podOf(objects);
    const sm = one<IServiceMonitor>(objects, "ServiceMonitor");
    const admin = one<IService>(objects, "Service", "tollgate-admin");
    t.is(admin.spec?.type, "ClusterIP", v.name);
    const labels = admin.metadata?.labels ?? {};
    t.true(Object.entries(sm.spec.selector.matchLabels ?? {}).every(([k, val]) => labels[k] === val), `${v.name}: selector`);
    t.false(Object.entries(sm.spec.selector.matchLabels ?? {}).every(([k, val]) => lbService(objects).metadata?.labels?.[k] === val),
      `${v.name}: the ServiceMonitor must not select the LB Service`);
    const endpoint = sm.spec.endpoints?.[0];
    t.is(endpoint?.path, "/stats/prometheus", v.name);
    const port = admin.spec?.ports?.find((p) => p.name === endpoint?.port);
    t.truthy(port, v.name);
    t.is(container.ports?.find((p) => p.name === port?.targetPort)?.containerPort, 9901, v.name);
    const podLabels = d.spec!.template.metadata!.labels!;
    t.true(Object.entries(admin.spec?.selector ?? {}).every(([k, val]) => podLabels[k] === val), `${v.name}: admin Service selects the pods`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The bootstraps: what each overlay's tollgate.yaml promises about PROXY, and `tollgate --mode validate`.

interface Bootstrap {
  admin: { address: { socket_address: { address: string; port_value: number } } };
  static_resources: {
    listeners: {
      name: string;
      address: { socket_address: { address: string; port_value: number } };
      listener_filters?: { name: string; typed_config: Record<string, unknown> }[];
      filter_chains: { filters: { name: string; typed_config: Record<string, unknown> }[] }[];
    }[];
    clusters: { name: string }[];
  };
}

function bootstrapOf(objects: K8sObject[]): Bootstrap {
  const { pod, container } = podOf(objects);
  const mount = container.volumeMounts!.find((m) => m.mountPath === "/etc/tollgate")!;
  const cm = one<IConfigMap>(objects, "ConfigMap", pod.volumes!.find((vol) => vol.name === mount.name)!.configMap!.name);
  return parse(cm.data!["tollgate.yaml"]) as Bootstrap;
}

function readBootstrap(overlay: Overlay | "base"): Bootstrap {
  return parse(readFileSync(join(overlayDir(overlay), "tollgate.yaml"), "utf8")) as Bootstrap;
}

const TOLLGATE_PP = "type.googleapis.com/tollgate.extensions.filters.listener.proxy_protocol.v1.ProxyProtocol";
const EXPECTED_PROXY: Record<Overlay, { disallowed: string[]; vpce: boolean }> = {
  digitalocean: { disallowed: ["V2"], vpce: false }, // DO sends v1
  "aws-nlb": { disallowed: ["V1"], vpce: true }, // the NLB sends v2, with TLV 0xEA on PrivateLink traffic
  "aws-clb": { disallowed: ["V2"], vpce: false }, // the CLB sends v1
};

function isCidr(text: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return false;
  const family = isIP(m[1]);
  return family !== 0 && Number(m[2]) <= (family === 4 ? 32 : 128);
}

test("each overlay's bootstrap reads the PROXY version its LB sends, only from trusted sources", (t) => {
  for (const overlay of OVERLAYS) {
    const b = readBootstrap(overlay);
    t.is(b.static_resources.listeners.length, 2, overlay);
    for (const l of b.static_resources.listeners) {
      const filters = l.listener_filters ?? [];
      t.is(filters.length, 1, `${overlay}/${l.name}`);
      const pp = filters[0].typed_config;
      t.is(pp["@type"], TOLLGATE_PP, `${overlay}/${l.name}`);
      t.deepEqual(pp.disallowed_versions, EXPECTED_PROXY[overlay].disallowed, `${overlay}/${l.name}`);
      t.is(pp.allow_requests_without_proxy_protocol, false, `${overlay}/${l.name}`);
      const trusted = pp.trusted_sources as string[];
      t.true(Array.isArray(trusted) && trusted.length > 0 && trusted.every(isCidr), `${overlay}/${l.name}: trusted_sources ${JSON.stringify(trusted)}`);
      const hcm = l.filter_chains[0].filters[0].typed_config as { use_remote_address: boolean; xff_num_trusted_hops: number; access_log: { typed_config: { log_format: { text_format_source: { inline_string: string } } } }[] };
      t.is(hcm.use_remote_address, true);
      t.is(hcm.xff_num_trusted_hops, 0);
      const format = hcm.access_log[0].typed_config.log_format.text_format_source.inline_string;
      t.regex(format, /client=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% peer=%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%/);
      if (EXPECTED_PROXY[overlay].vpce) {
        t.deepEqual(pp.rules, [{ tlv_type: 0xea, on_tlv_present: { key: "vpce_id" } }], `${overlay}/${l.name}`);
        t.true(format.includes("%DYNAMIC_METADATA(envoy.filters.listener.proxy_protocol:vpce_id)%"), `${overlay}/${l.name}`);
      } else {
        t.is(pp.rules, undefined, `${overlay}/${l.name}`);
      }
    }
  }
  // The base has no PROXY at all: its LB (if any) sends no header.
  t.true(readBootstrap("base").static_resources.listeners.every((l) => l.listener_filters === undefined));
});

const ALLOWLIST_PATH = "/etc/tollgate/allowlist.txt";

test("bootstraps route only to defined clusters and enforce the mounted allowlist file on every listener", (t) => {
  for (const overlay of ["base", ...OVERLAYS] as const) {
    const text = readFileSync(join(overlayDir(overlay), "tollgate.yaml"), "utf8");
    const b = parse(text) as Bootstrap;
    const clusters = new Set(b.static_resources.clusters.map((c) => c.name));
    const routed = [...text.matchAll(/^\s*cluster: (\S+)$/gm)].map((m) => m[1]);
    t.true(routed.length >= 2, overlay);
    for (const c of routed) t.true(clusters.has(c), `${overlay}: route to undefined cluster ${c}`);
    // Every listener's HTTP filters: the RBAC allowlist (allowlist.txt, mounted beside the bootstrap, matched against
    // the client address), then the router.
    for (const l of b.static_resources.listeners) {
      const hcm = l.filter_chains[0].filters[0].typed_config as { http_filters: { name: string; typed_config: Record<string, unknown> }[] };
      t.deepEqual(hcm.http_filters.map((f) => f.name), ["envoy.filters.http.rbac", "envoy.filters.http.router"], `${overlay}/${l.name}`);
      t.deepEqual(hcm.http_filters[0].typed_config, {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        rules: {
          action: "ALLOW",
          policies: {
            allowlist: {
              permissions: [{ any: true }],
              principals: [{
                custom: {
                  name: "tollgate.rbac.principals.ip_allowlist_file",
                  typed_config: {
                    "@type": "type.googleapis.com/tollgate.extensions.rbac.principals.v1.IpAllowlistFile",
                    path: ALLOWLIST_PATH,
                    address: "REMOTE",
                  },
                },
              }],
            },
          },
        },
      }, `${overlay}/${l.name}`);
    }
  }
});

test("allowlist.txt holds one CIDR per line (blank lines and # comments aside)", (t) => {
  const lines = readFileSync(join(k8s, "base", "allowlist.txt"), "utf8").split("\n")
    .map((l) => l.replace(/#.*$/, "").trim()).filter((l) => l !== "");
  t.true(lines.length > 0);
  for (const l of lines) t.true(isCidr(l), `not a CIDR: ${l}`);
});

const cli = join(repo, "dist", "proxy", "cli.js");
const cliFound = existsSync(cli);
const needsCli = cliFound || inCi ? test : test.skip;

// Validation reads every file the bootstrap names, so it needs what the pod sees at /etc/tollgate: the ConfigMap's
// tollgate.yaml and allowlist.txt side by side. Each run stages that directory in a temp dir (the shipped allowlist.txt
// and the overlay's bootstrap, whose one change is /etc/tollgate/ -> the temp dir), which also checks the shipped
// allowlist.txt with Tollgate's own parser.
function stageEtcTollgate(t: ExecutionContext, overlay: Overlay | "base"): string {
  const text = readFileSync(join(overlayDir(overlay), "tollgate.yaml"), "utf8");
  t.true(text.includes(ALLOWLIST_PATH), `${overlay}: the bootstrap names ${ALLOWLIST_PATH}`);
  const dir = mkdtempSync(join(tmpdir(), "tollgate-etc-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "allowlist.txt"), readFileSync(join(k8s, "base", "allowlist.txt")));
  const staged = join(dir, "tollgate.yaml");
  writeFileSync(staged, text.split("/etc/tollgate/").join(`${dir}/`));
  return staged;
}

for (const overlay of ["base", ...OVERLAYS] as const) {
  needsCli(`tollgate --mode validate accepts the ${overlay} bootstrap`, (t) => {
    if (!cliFound) return t.fail(`${relative(repo, cli)} is missing: run \`npm run build\` (CI=true)`);
    const file = stageEtcTollgate(t, overlay);
    const r = spawnSync(process.execPath, [cli, "--mode", "validate", "-c", file], { encoding: "utf8", timeout: 30_000 });
    t.is(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  });
}

needsCli("tollgate --mode validate refuses a bootstrap whose allowlist has a bad line, naming the file and line", (t) => {
  if (!cliFound) return t.fail(`${relative(repo, cli)} is missing: run \`npm run build\` (CI=true)`);
  const file = stageEtcTollgate(t, "digitalocean");
  const allowlist = join(dirname(file), "allowlist.txt");
  writeFileSync(allowlist, "0.0.0.0/0\n203.0.113.0/33\n");
  const r = spawnSync(process.execPath, [cli, "--mode", "validate", "-c", file], { encoding: "utf8", timeout: 30_000 });
  t.not(r.status, 0);
  t.true(`${r.stdout}${r.stderr}`.includes(`${allowlist} line 2: invalid CIDR "203.0.113.0/33"`), `${r.stdout}\n${r.stderr}`);
});

test("every YAML file under k8s/ parses without errors", (t) => {
  const files = k8sYamlFiles();
  t.true(files.length >= 15, `found only ${files.length}`);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(repo, f), "utf8"))) t.deepEqual(doc.errors.map((e) => e.message), [], f);
  }
});
