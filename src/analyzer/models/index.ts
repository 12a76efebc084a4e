import { LinearTrend } from "./linear-trend.js";
import type { ForecastModel, ModelFactory } from "./model.js";
import { RobustTrend } from "./robust-trend.js";
import { SawtoothTrend } from "./sawtooth-trend.js";

/** Names of the registered models, as predictions carry them (e.g. for `z.enum(MODEL_NAMES)`). */
export const MODEL_NAMES = ["linear_trend", "robust_trend", "sawtooth_trend"] as const;

export type ModelName = (typeof MODEL_NAMES)[number];

/** The explicit model registry: one line per model. */
const FACTORIES: Readonly<Record<ModelName, ModelFactory>> = Object.freeze({
  linear_trend: (windowMs: number) => new LinearTrend(windowMs),
  robust_trend: (windowMs: number) => new RobustTrend(windowMs),
  sawtooth_trend: (windowMs: number) => new SawtoothTrend(windowMs),
});

/** Builds the named model for a rule window (ms). */
export function createModel(name: ModelName, windowMs: number): ForecastModel {
  return FACTORIES[name](windowMs);
}
