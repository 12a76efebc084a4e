import type { TrendForecast } from "./linear-trend.js";

export type { TrendForecast };

/**
 * What every forecasting model offers the engine, so a rule can choose its model.
 *
 * A model holds the state of many series at once in typed-array columns; a series is a slot
 * (a small integer) handed out by `allocate`. `observe` is the hot path (O(1) amortised, no
 * allocation); `predict` runs once per evaluation and may cost more. `LinearTrend` fits this
 * interface as it is (checked by a type-level test), so the engine can hold `ForecastModel`s.
 *
 * The model's name is not part of the object: it is the key under which the model is registered
 * (see `index.ts`), the same string that predictions carry in their `model` field.
 */
export interface ForecastModel {
  /** Window the model was built for (ms). A gap longer than this restarts a series. */
  readonly windowMs: number;
  /** Slots in use (allocated and not released). */
  readonly slotCount: number;
  /** Returns a fresh, empty slot, reusing released ones first. */
  allocate(): number;
  /** Forgets a slot's state and makes it available to `allocate`. */
  release(slot: number): void;
  /** Samples observed in a slot since it (re)started. */
  samples(slot: number): number;
  /** Time of the slot's latest sample (ms), or NaN when it has none. */
  lastTimeMs(slot: number): number;
  /** Adds one sample (time in ms). Non-finite values are ignored. */
  observe(slot: number, tMs: number, value: number): void;
  /**
   * Forecast against an upper threshold at `nowMs` for a rule looking `horizonMs` ahead, or
   * undefined when the slot has too little (or too stale) data to say anything.
   */
  predict(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples?: number): TrendForecast | undefined;
  /**
   * Optional: `predict`'s `etaMs` alone, exactly as `predict` would give it at that moment (NaN
   * where it gives no forecast or a null ETA). What an alert's condition needs, for engines that
   * build a full forecast only for series whose alert is active (a backtest).
   */
  eta?(slot: number, nowMs: number, threshold: number, horizonMs: number, minSamples?: number): number;
}

/** Builds a model for a rule window (ms). */
export type ModelFactory = (windowMs: number) => ForecastModel;
