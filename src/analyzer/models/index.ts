import { AnomalyModel } from "./anomaly.js";
import { CertExpiryModel } from "./cert-expiry.js";
import { LeakDetector } from "./leak-detector.js";
import { LinearTrend } from "./linear-trend.js";
import type { ForecastModel, ModelFactory } from "./model.js";
import { RobustTrend } from "./robust-trend.js";
import { SawtoothTrend } from "./sawtooth-trend.js";
import { SeasonalForecaster } from "./seasonal.js";

/** Names of the registered models, as predictions carry them (e.g. for `z.enum(MODEL_NAMES)`). */
export const MODEL_NAMES = ["linear_trend", "robust_trend", "sawtooth_trend", "leak_detector", "seasonal", "cert_expiry", "anomaly"] as const;

export type ModelName = (typeof MODEL_NAMES)[number];

/** Troughs the leak detector keeps per window: its bucket is window / this. */
const LEAK_TROUGHS = 48;

/** The explicit model registry: one line per model, each built for a rule's window (ms). */
const FACTORIES: Readonly<Record<ModelName, ModelFactory>> = Object.freeze({
  linear_trend: (windowMs: number) => new LinearTrend(windowMs),
  robust_trend: (windowMs: number) => new RobustTrend(windowMs),
  sawtooth_trend: (windowMs: number) => new SawtoothTrend(windowMs),
  leak_detector: (windowMs: number) => new LeakDetector({ bucketMs: windowMs / LEAK_TROUGHS, troughs: LEAK_TROUGHS }),
  seasonal: (windowMs: number) => new SeasonalForecaster({ maxGapMs: windowMs }),
  cert_expiry: (windowMs: number) => new CertExpiryModel({ windowMs }),
  anomaly: (windowMs: number) => new AnomalyModel(windowMs),
});

/** Builds the named model for a rule window (ms). */
export function createModel(name: ModelName, windowMs: number): ForecastModel {
  return FACTORIES[name](windowMs);
}
