// config.core.v3.RuntimeFractionalPercent and RuntimeFeatureFlag. Tollgate has no runtime layer
// (`/runtime_modify`, RTDS): `runtime_key` is accepted and recorded, and the `default_value` always decides.
// docs/rate-limits.md says so; an operator changes the fraction by changing the configuration (a hot reload).
import { ConfigError } from "../../../config/errors.js";
import type { ConfigReader } from "../../../config/reader.js";
import { readBoolValue } from "./rate-limit-actions.js";

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

export interface FractionalPercent {
  readonly runtimeKey: string;
  readonly numerator: number;
  readonly denominator: number;
}

/** Envoy's FractionalPercent when the field is absent from the config: 0% (the filter stays inert). */
export const NEVER: FractionalPercent = Object.freeze({ runtimeKey: "", numerator: 0, denominator: 100 });

export function readRuntimeFractionalPercent(r: ConfigReader): FractionalPercent {
  const runtimeKey = r.str("runtime_key") ?? "";
  const dv = r.obj("default_value", { required: true });
  const numerator = dv.int("numerator", { default: 0, min: 0, max: 0xffffffff });
  const name = dv.enum("denominator", ["HUNDRED", "TEN_THOUSAND", "MILLION"] as const, "HUNDRED");
  dv.done();
  r.done();
  return Object.freeze({ runtimeKey, numerator, denominator: DENOMINATORS[name] });
}

/**
 * Runtime::FractionalPercent::enabled(): a random draw below numerator/denominator. A numerator at or above the
 * denominator is always on and 0 always off, without drawing.
 */
export function sample(p: FractionalPercent): boolean {
  if (p.numerator >= p.denominator) return true;
  if (p.numerator === 0) return false;
  return Math.random() * p.denominator < p.numerator;
}

/** config.core.v3.RuntimeFeatureFlag {default_value (BoolValue, required), runtime_key (required)}. */
export function readRuntimeFeatureFlag(r: ConfigReader): boolean {
  if (!r.has("default_value")) throw new ConfigError(r.at("default_value"), "is required");
  const value = readBoolValue(r, "default_value", true);
  r.str("runtime_key", { required: true });
  r.done();
  return value;
}
