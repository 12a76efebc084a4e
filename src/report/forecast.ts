import { CertExpiryModel } from "../analyzer/models/cert-expiry.js";
import type { TrendForecast } from "../analyzer/models/linear-trend.js";
import { RobustTrend } from "../analyzer/models/robust-trend.js";
import { SeasonalForecaster } from "../analyzer/models/seasonal.js";
import type { Samples } from "../core/contracts.js";
import type { ForecastPoint } from "./types.js";

// Forecasts for reports come from the analyzer's own models, fed with the store's history,
// so a report and the alerts agree on what a series is doing.

/** Fewer samples than this: no forecast. */
const MIN_SAMPLES = 5;
/** A burst must last this many model buckets to count (the model drops shorter excursions). */
const PERSIST_BUCKETS = 2;
/** Forecast steps drawn from now to the horizon's end. */
const FORECAST_STEPS = 24;
/** Half-width of the noise band around the central line, in residual standard deviations. */
const NOISE_BAND_SIGMA = 2;
/** Seasonal fits: hourly buckets, a daily season (the daily peak is what CPU and memory are planned for). */
const SEASON_BUCKET_MS = 3_600_000;
const SEASON_MS = 86_400_000;
/** Seasonal forecast points drawn at most (hourly up to 60 days). */
const SEASONAL_MAX_STEPS = 1440;

/**
 * The robust trend (Theil–Sen with burst rejection, as the `robust_trend` rule model) of
 * `samples` toward an upper `limit`, seen at `nowMs`, looking `horizonMs` ahead. The model's
 * window spans the samples (at most `historyMs`), so a short history still gets a forecast.
 * Undefined with too few samples or when the latest is older than the data's span.
 */
export function fitTrend(samples: Samples, nowMs: number, limit: number, horizonMs: number, historyMs: number): TrendForecast | undefined {
  if (samples.length < MIN_SAMPLES) return undefined;
  const firstMs = samples[0]![0];
  const lastMs = samples[samples.length - 1]![0];
  const spanMs = lastMs - firstMs;
  if (!(spanMs > 0)) return undefined;
  // A little wider than the data, so the oldest bucket is not cut by the window's edge.
  const windowMs = Math.min(historyMs, Math.max(spanMs, nowMs - firstMs) * 1.05);
  const model = new RobustTrend(windowMs, { initialCapacity: 1, persistenceFraction: (PERSIST_BUCKETS * windowMs) / 64 / Math.max(horizonMs, 1) });
  const slot = model.allocate();
  for (const [t, v] of samples) model.observe(slot, t, v);
  return model.predict(slot, nowMs, limit, horizonMs, MIN_SAMPLES);
}

/** A seasonal fit: the forecast in the trend shape, and its hourly line with the 95 % band. */
export interface SeasonalFit {
  fc: TrendForecast;
  band: ForecastPoint[];
}

/**
 * Holt–Winters with a daily season (the `seasonal` rule model, in hourly buckets) of `samples`
 * toward an upper `limit`: the ETA is when the forecast hourly mean first reaches the limit — the
 * busy hour, not the daily average, which a straight trend would follow. Undefined before two
 * full days of data (the model's initialisation) or when the latest sample is a day old. Band
 * values are clamped to [floor, limit].
 */
export function fitSeasonal(samples: Samples, nowMs: number, limit: number, horizonMs: number, floor: number): SeasonalFit | undefined {
  if (samples.length < MIN_SAMPLES) return undefined;
  const model = new SeasonalForecaster({ bucketMs: SEASON_BUCKET_MS, seasonMs: SEASON_MS, initialCapacity: 1 });
  const slot = model.allocate();
  for (const [t, v] of samples) model.observe(slot, t, v);
  const fc = model.predict(slot, nowMs, limit, horizonMs, MIN_SAMPLES);
  if (!fc) return undefined;
  const clamp = (v: number): number => Math.min(limit, Math.max(floor, v));
  const steps = Math.min(SEASONAL_MAX_STEPS, Math.max(1, Math.ceil(horizonMs / SEASON_BUCKET_MS)));
  const band: ForecastPoint[] = [];
  for (let i = 0; i <= steps; i++) {
    const t = nowMs + (horizonMs * i) / steps;
    const p = model.forecastAt(slot, t);
    if (p) band.push({ tMs: t, value: clamp(p.value), low: clamp(p.low), high: clamp(p.high) });
  }
  return { fc, band };
}

/** What a certificate's samples say: its notAfter (ms) and how many samples there were. */
export interface CertFit {
  notAfterMs: number;
  samples: number;
}

/**
 * notAfter of the current certificate (the `cert_expiry` model: median of recent estimates,
 * restarting on renewal) from `enddate` samples (seconds since 1970) when given, else from
 * `expiry` samples (seconds left at the sample time).
 */
export function fitCertificate(samples: Samples, kind: "enddate" | "expiry"): CertFit | undefined {
  if (samples.length === 0) return undefined;
  const model = new CertExpiryModel({ initialCapacity: 1, windowMs: Number.MAX_SAFE_INTEGER });
  const slot = model.allocate();
  for (const [t, v] of samples) {
    if (kind === "enddate") model.observeNotAfter(slot, t, v * 1000);
    else model.observe(slot, t, v);
  }
  const last = samples[samples.length - 1]![0];
  const fc = model.forecast(slot, last, 0);
  return fc === undefined ? undefined : { notAfterMs: fc.notAfterMs, samples: fc.samples };
}

/**
 * Forecast steps from `nowMs` to `nowMs + horizonMs`: the central line of the fit, and a band
 * whose edges pass through the model's ETA bounds at the limit (the earliest and latest
 * plausible exhaustion), widened to at least the fit's noise (±2 residual σ). Edges whose bound
 * is missing keep the noise width. Values are clamped to [floor, limit].
 */
export function forecastBand(fc: TrendForecast, nowMs: number, horizonMs: number, limit: number, floor: number): ForecastPoint[] {
  const noise = NOISE_BAND_SIGMA * fc.residualStd;
  const start = fc.fittedNow;
  const cone = (etaMs: number | null, t: number): number | undefined =>
    etaMs !== null && etaMs > nowMs ? start + ((limit - start) * (t - nowMs)) / (etaMs - nowMs) : undefined;
  const clamp = (v: number): number => Math.min(limit, Math.max(floor, v));
  const out: ForecastPoint[] = [];
  for (let i = 0; i <= FORECAST_STEPS; i++) {
    const t = nowMs + (horizonMs * i) / FORECAST_STEPS;
    const central = start + fc.slopePerMs * (t - nowMs);
    const high = Math.max(cone(fc.etaLowMs, t) ?? -Infinity, central + noise);
    const low = Math.min(cone(fc.etaHighMs, t) ?? Infinity, central - noise);
    out.push({ tMs: t, value: clamp(central), low: clamp(low), high: clamp(high) });
  }
  return out;
}

/** A certificate's days left from `nowMs` to the horizon's end: a straight line, no band (the date is known). */
export function certForecast(notAfterMs: number, nowMs: number, horizonMs: number): ForecastPoint[] {
  const out: ForecastPoint[] = [];
  for (let i = 0; i <= FORECAST_STEPS; i++) {
    const t = nowMs + (horizonMs * i) / FORECAST_STEPS;
    const days = (notAfterMs - t) / 86_400_000;
    out.push({ tMs: t, value: days, low: days, high: days });
  }
  return out;
}
