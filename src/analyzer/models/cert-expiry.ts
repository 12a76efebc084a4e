import type { TrendForecast } from "./linear-trend.js";
import { medianInPlace } from "./robust-stats.js";
import { SlotPool, resizeF64 } from "./slot-pool.js";

/**
 * Certificate expiry: exact, not estimated.
 *
 * Design: a certificate's expiry is a fixed instant (notAfter), so nothing is fitted. Each sample
 * of Telegraf's `expiry` (seconds until notAfter, truncated) becomes an estimate sampleTime +
 * expiry; the model keeps the last `recentSamples` estimates in a ring and uses their median, so
 * jitter between the collector's clock and the sample timestamp (and the truncation to seconds)
 * cannot move it. An estimate more than `renewalToleranceMs` away from the median is a different
 * certificate (renewed, or replaced): the ring restarts from it. The time until "N seconds left"
 * is then notAfter − N, with both bounds equal to it and confidence 1.
 */

export interface CertExpiryOptions {
  /** Recent notAfter estimates whose median is used. Default 5, max 64. */
  recentSamples?: number;
  /** notAfter moving by more than this means another certificate (ms). Default 1 hour. */
  renewalToleranceMs?: number;
  /** A certificate not sampled for this long gets no prediction (ms). Default 1 day. */
  windowMs?: number;
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
}

/** Expiry forecast for one certificate series. Times in ms. */
export interface CertExpiryForecast {
  /** Median notAfter of the current certificate (ms since epoch). */
  notAfterMs: number;
  /** Seconds left at `nowMs` (negative once expired). */
  expirySecondsNow: number;
  /** `expiry` at nowMs + horizonMs (seconds). */
  forecastExpirySeconds: number;
  /** When `thresholdSeconds` are left: notAfter − threshold; `nowMs` if already there. */
  etaMs: number;
  /** Equal to etaMs: the instant is known. */
  etaLowMs: number;
  etaHighMs: number;
  /** Always 1. */
  confidence: 1;
  /** Change of `expiry` per second of time: −1. */
  slopePerS: -1;
  /** Times a later notAfter replaced the previous one. */
  renewals: number;
  /** When the current certificate was first seen after a change (ms), or null if it is the first. */
  changedAtMs: number | null;
  /** Samples of the current certificate. */
  samples: number;
}

const MAX_RECENT = 64;

export class CertExpiryModel {
  readonly recentSamples: number;
  readonly renewalToleranceMs: number;
  /** Staleness window (ms): no prediction when the latest sample is older. */
  readonly windowMs: number;
  private readonly pool: SlotPool;

  private count: Float64Array;
  private head: Float64Array;
  private median: Float64Array;
  private renewals: Float64Array;
  private changedAt: Float64Array;
  private lastT: Float64Array;
  /** Per slot × recentSamples: notAfter estimates. */
  private ring: Float64Array;
  private readonly scratch: Float64Array;

  constructor(opts: CertExpiryOptions = {}) {
    this.recentSamples = Math.floor(opts.recentSamples ?? 5);
    if (!(this.recentSamples >= 1 && this.recentSamples <= MAX_RECENT)) {
      throw new RangeError(`recentSamples must be in 1..${MAX_RECENT}, got ${opts.recentSamples}`);
    }
    this.renewalToleranceMs = opts.renewalToleranceMs ?? 3_600_000;
    this.windowMs = opts.windowMs ?? 86_400_000;
    const cap = Math.max(1, opts.initialCapacity ?? 64);
    this.count = new Float64Array(cap);
    this.head = new Float64Array(cap);
    this.median = new Float64Array(cap);
    this.renewals = new Float64Array(cap);
    this.changedAt = new Float64Array(cap);
    this.lastT = new Float64Array(cap);
    this.ring = new Float64Array(cap * this.recentSamples);
    this.scratch = new Float64Array(this.recentSamples);
    this.pool = new SlotPool(cap, (n) => this.grow(n));
  }

  /** Slots in use. */
  get slotCount(): number {
    return this.pool.slotCount;
  }

  /** A fresh, empty slot. */
  allocate(): number {
    const slot = this.pool.allocate();
    this.clear(slot);
    return slot;
  }

  /** Forgets a slot's state and makes it available to `allocate`. */
  release(slot: number): void {
    this.clear(slot);
    this.pool.release(slot);
  }

  /** Samples of the current certificate. */
  samples(slot: number): number {
    return this.count[slot]!;
  }

  /** Latest sample time (ms), or NaN when the slot has none. */
  lastTimeMs(slot: number): number {
    return this.count[slot]! > 0 ? this.lastT[slot]! : NaN;
  }

  /** Adds a sample of Telegraf's `expiry` field (seconds until notAfter) taken at `tMs`. O(recentSamples). */
  observe(slot: number, tMs: number, expirySeconds: number): void {
    if (!Number.isFinite(expirySeconds) || !Number.isFinite(tMs)) return;
    this.observeNotAfter(slot, tMs, tMs + expirySeconds * 1000);
  }

  /** Adds a notAfter instant directly (e.g. from the `enddate` field × 1000). */
  observeNotAfter(slot: number, tMs: number, notAfterMs: number): void {
    if (!Number.isFinite(notAfterMs)) return;
    const n = this.count[slot]!;
    this.lastT[slot] = Math.max(this.lastT[slot]!, tMs);
    if (n > 0 && Math.abs(notAfterMs - this.median[slot]!) > this.renewalToleranceMs) {
      if (notAfterMs > this.median[slot]!) this.renewals[slot] = this.renewals[slot]! + 1;
      this.changedAt[slot] = tMs;
      this.count[slot] = 0;
      this.head[slot] = 0;
    }
    const K = this.recentSamples;
    const h = this.head[slot]!;
    this.ring[slot * K + h] = notAfterMs;
    this.head[slot] = (h + 1) % K;
    const filled = Math.min(K, this.count[slot]! + 1);
    this.count[slot] = this.count[slot]! + 1;
    for (let i = 0; i < filled; i++) this.scratch[i] = this.ring[slot * K + i]!;
    this.median[slot] = medianInPlace(this.scratch, filled);
  }

  /**
   * In the engine's `TrendForecast` shape (the `ForecastModel` contract). The threshold is a
   * lower one, in seconds left (e.g. 14 days = 1 209 600); the ETA is when it is reached, which is
   * all the rule engine's alert condition reads. Undefined before the first sample or when stale.
   */
  predict(slot: number, nowMs: number, thresholdSeconds: number, horizonMs: number, minSamples = 0): TrendForecast | undefined {
    if (this.count[slot]! < Math.max(1, minSamples) || nowMs - this.lastT[slot]! > this.windowMs) return undefined;
    const fc = this.forecast(slot, nowMs, thresholdSeconds, horizonMs);
    if (!fc) return undefined;
    return {
      lastValue: fc.expirySecondsNow,
      lastTimeMs: this.lastT[slot]!,
      slopePerMs: -1 / 1000,
      fittedNow: fc.expirySecondsNow,
      forecastValue: fc.forecastExpirySeconds,
      etaMs: fc.etaMs,
      etaLowMs: fc.etaLowMs,
      etaHighMs: fc.etaHighMs,
      confidence: 1,
      samples: fc.samples,
      effectiveSamples: Math.min(fc.samples, this.recentSamples),
      scaleMs: 0,
      residualStd: 0,
    };
  }

  /**
   * When `thresholdSeconds` of validity are left, seen from `nowMs`; undefined before the first
   * sample. `horizonMs` only sets `forecastExpirySeconds`.
   */
  forecast(slot: number, nowMs: number, thresholdSeconds: number, horizonMs = 0): CertExpiryForecast | undefined {
    const n = this.count[slot]!;
    if (n === 0) return undefined;
    const notAfterMs = this.median[slot]!;
    const eta = Math.max(nowMs, notAfterMs - thresholdSeconds * 1000);
    const changed = this.changedAt[slot]!;
    return {
      notAfterMs,
      expirySecondsNow: (notAfterMs - nowMs) / 1000,
      forecastExpirySeconds: (notAfterMs - nowMs - horizonMs) / 1000,
      etaMs: eta,
      etaLowMs: eta,
      etaHighMs: eta,
      confidence: 1,
      slopePerS: -1,
      renewals: this.renewals[slot]!,
      changedAtMs: Number.isNaN(changed) ? null : changed,
      samples: n,
    };
  }

  private clear(slot: number): void {
    this.count[slot] = 0;
    this.head[slot] = 0;
    this.median[slot] = 0;
    this.renewals[slot] = 0;
    this.changedAt[slot] = NaN;
    this.lastT[slot] = -Infinity;
  }

  private grow(cap: number): void {
    this.count = resizeF64(this.count, cap);
    this.head = resizeF64(this.head, cap);
    this.median = resizeF64(this.median, cap);
    this.renewals = resizeF64(this.renewals, cap);
    this.changedAt = resizeF64(this.changedAt, cap);
    this.lastT = resizeF64(this.lastT, cap);
    this.ring = resizeF64(this.ring, cap * this.recentSamples);
  }
}
