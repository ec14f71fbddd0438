// A CIDR as written in configuration: Envoy's CidrRange {address_prefix, prefix_len}, or Tollgate's string form
// "10.0.0.0/8" / "2001:db8::/32" / a bare address (meaning /32 or /128).
import { ConfigError } from "../../config/errors.js";
import { ConfigReader } from "../../config/reader.js";
import { parseCidr, parseIp, type Cidr } from "../../net/ip.js";

export function parseCidrEntry(value: unknown, path: string): Cidr {
  if (typeof value === "string") {
    const c = parseCidr(value);
    if (!c) throw new ConfigError(path, `invalid CIDR ${JSON.stringify(value)}: expected e.g. "10.0.0.0/8" or "2001:db8::/32"`);
    return c;
  }
  return parseCidrRange(new ConfigReader(value, path));
}

/** Envoy's config.core.v3.CidrRange. prefix_len absent means 0, as in Envoy. */
export function parseCidrRange(r: ConfigReader): Cidr {
  const prefix = r.str("address_prefix", { required: true });
  const ip = parseIp(prefix);
  if (!ip) throw new ConfigError(r.at("address_prefix"), `not an IP address: ${JSON.stringify(prefix)}`);
  const max = ip.length === 4 ? 32 : 128;
  const len = r.int("prefix_len", { default: 0, min: 0, max });
  r.done();
  const c = parseCidr(`${prefix}/${len}`);
  if (!c) throw new ConfigError(r.path, `invalid CIDR range ${prefix}/${len}`);
  return c;
}
