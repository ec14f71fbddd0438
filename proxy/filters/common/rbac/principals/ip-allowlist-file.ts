// tollgate.rbac.principals.ip_allowlist_file — an RBAC principal that matches a client address against a file of
// CIDRs that operators edit (a Kubernetes ConfigMap, typically), reloaded without a restart when the file changes.
//
// It is an Envoy RBAC principal extension: Principal.custom is a TypedExtensionConfig (Envoy's `envoy.rbac.principals`
// extension category, where e.g. envoy.rbac.principals.mtls_authenticated lives), with Tollgate's own message:
//
//   principals:
//   - custom:
//       name: tollgate.rbac.principals.ip_allowlist_file
//       typed_config:
//         "@type": type.googleapis.com/tollgate.extensions.rbac.principals.v1.IpAllowlistFile
//         path: /etc/tollgate/allowlist.txt
//         address: REMOTE     # REMOTE (default) | DIRECT | SOURCE
//         stat_prefix: office # optional; default: the file's base name without extension
//
// `address` picks the address the file is matched against, as the built-in principals do: REMOTE like remote_ip (the
// trusted client address: PROXY-restored and, in HTTP, XFF-derived), DIRECT like direct_remote_ip (the TCP peer),
// SOURCE like source_ip (the post-PROXY peer, never XFF).
//
// The file is read by the loader before parsing (config/files.ts) and validated here: an unreadable file or a bad
// line refuses the configuration (`...typed_config.path: /etc/tollgate/allowlist.txt line 7: invalid CIDR "..."`).
// Principals of one configuration naming the same file share one set and one watcher (allowlist-file.ts).
import { basename, extname, resolve } from "node:path";
import { ConfigError } from "../../../../config/errors.js";
import { registerFileReference } from "../../../../config/files.js";
import { currentParseContext, type ParseContext } from "../../../../config/parse-context.js";
import type { ConfigReader } from "../../../../config/reader.js";
import { registerExtension } from "../../../../config/registry.js";
import type { MatchTrace, RbacMatcher } from "../matchers.js";
import type { RbacPrincipalExtension } from "../principal-extension.js";
import type { IpField, RbacRequest } from "../request.js";
import { AllowlistFile } from "./allowlist-file.js";
import { AllowlistFileError, parseAllowlist } from "./allowlist-text.js";

export const IP_ALLOWLIST_FILE_NAME = "tollgate.rbac.principals.ip_allowlist_file";
export const IP_ALLOWLIST_FILE_TYPE = "tollgate.extensions.rbac.principals.v1.IpAllowlistFile";

export type AllowlistAddress = "REMOTE" | "DIRECT" | "SOURCE";
const ADDRESSES = ["REMOTE", "DIRECT", "SOURCE"] as const;
const FIELD_OF: Readonly<Record<AllowlistAddress, IpField>> = { REMOTE: "remote", DIRECT: "directRemote", SOURCE: "source" };

/** A stat name segment: no dots (they separate Envoy stat tokens), nothing Prometheus would have to rewrite. */
const STAT_NAME = /^[A-Za-z0-9_-]+$/;

/** `/etc/tollgate/allowlist.txt` -> `allowlist`; characters outside [A-Za-z0-9_-] become `_`. */
export function defaultStatName(path: string): string {
  const base = basename(path);
  const ext = extname(base);
  const stem = ext !== "" && ext !== base ? base.slice(0, -ext.length) : base;
  const name = stem.replace(/[^A-Za-z0-9_-]/g, "_");
  return name === "" ? "allowlist" : name;
}

/** The principal: one set probe per decision, on the set the file holds at that moment. */
export class AllowlistFileMatcher implements RbacMatcher {
  constructor(
    readonly path: string,
    private readonly file: AllowlistFile,
    private readonly field: IpField,
    private readonly address: AllowlistAddress,
  ) {}

  /** Built when asked (explain only): the entry count changes with each reload. */
  get text(): string {
    const n = this.file.entries;
    return `ip_allowlist_file ${this.file.path} (${n} ${n === 1 ? "entry" : "entries"}, ${this.address} address)`;
  }

  match(req: RbacRequest): boolean {
    const ip = req.ip(this.field);
    // `current` is read once here; a reload replaces it between two lookups, never during one.
    return ip !== null && this.file.current.containsBytes(ip);
  }

  trace(req: RbacRequest): MatchTrace {
    return { path: this.path, text: this.text, matched: this.match(req) };
  }
}

/** The allowlist files of one configuration: by absolute path, and by stat name (which must not collide). */
interface FilesOfConfig {
  readonly byPath: Map<string, AllowlistFile>;
  readonly byStatName: Map<string, AllowlistFile>;
}

const filesOf = new WeakMap<ParseContext, FilesOfConfig>();

function fileFor(ctx: ParseContext, tc: ConfigReader, path: string, statName: string, statNameConfigured: boolean): AllowlistFile {
  let files = filesOf.get(ctx);
  if (files === undefined) filesOf.set(ctx, (files = { byPath: new Map(), byStatName: new Map() }));
  const resolvedPath = resolve(path);
  const shared = files.byPath.get(resolvedPath);
  if (shared !== undefined) {
    if (shared.statName !== statName) {
      throw new ConfigError(
        tc.at("stat_prefix"),
        `${path} is already named by another principal with stat name "${shared.statName}"; principals naming one file share its stats, so give them the same stat_prefix`,
      );
    }
    return shared;
  }
  const other = files.byStatName.get(statName);
  if (other !== undefined) {
    throw new ConfigError(
      tc.at(statNameConfigured ? "stat_prefix" : "path"),
      `stat name "${statName}" is already used by the allowlist file ${other.path}; set a distinct stat_prefix`,
    );
  }
  const snapshot = ctx.file(path);
  if (snapshot === undefined) {
    throw new ConfigError(tc.at("path"), `${path} was not read when the configuration was loaded (internal: the loader did not find this principal)`);
  }
  if (!snapshot.ok) throw new ConfigError(tc.at("path"), `cannot read ${path}: ${snapshot.error}`);
  let cidrs;
  try {
    cidrs = parseAllowlist(snapshot.text, path);
  } catch (err) {
    if (err instanceof AllowlistFileError) throw new ConfigError(tc.at("path"), err.message);
    throw err;
  }
  const file = new AllowlistFile(path, resolvedPath, statName, cidrs, snapshot.hash);
  files.byPath.set(resolvedPath, file);
  files.byStatName.set(statName, file);
  ctx.resources.add(file);
  return file;
}

function parseIpAllowlistFile(tc: ConfigReader): RbacPrincipalExtension {
  const path = tc.str("path", { required: true });
  const address = tc.enum("address", ADDRESSES, "REMOTE");
  const statPrefix = tc.str("stat_prefix");
  tc.done();
  if (statPrefix !== undefined && !STAT_NAME.test(statPrefix)) {
    throw new ConfigError(tc.at("stat_prefix"), `must be letters, digits, '_' or '-' (it is one segment of tollgate.ip_allowlist.<stat_prefix>.*), got ${JSON.stringify(statPrefix)}`);
  }
  const ctx = currentParseContext();
  if (ctx === null) {
    throw new ConfigError(tc.at("path"), "a file principal can only be parsed as part of a configuration loaded by Tollgate (which reads the file first)");
  }
  const file = fileFor(ctx, tc, path, statPrefix ?? defaultStatName(path), statPrefix !== undefined);
  const field = FIELD_OF[address];
  return Object.freeze({
    matcher: (principalPath: string): RbacMatcher => new AllowlistFileMatcher(principalPath, file, field, address),
  });
}

registerFileReference(IP_ALLOWLIST_FILE_TYPE, "path");

registerExtension<RbacPrincipalExtension>({
  category: "rbac_principal",
  typeUrls: [IP_ALLOWLIST_FILE_TYPE],
  names: [IP_ALLOWLIST_FILE_NAME],
  parse: parseIpAllowlistFile,
});
