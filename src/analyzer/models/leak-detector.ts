import type { TrendForecast } from "./linear-trend.js";
import { Z975, median3, medianInPlace, normalCdf, selectKth } from "./robust-stats.js";
import { SlotPool, resizeF64, resizeI32, resizeU8 } from "./slot-pool.js";

/**
 * Per-process memory-leak detector on the troughs of RSS (or on cgroup memory usage).
 *
 * Design: samples are grouped into fixed time buckets (`bucketMs`, longer than the GC or cache
 * saw period); each closed bucket keeps its minimum (the trough, with its time) and maximum in a
 * ring of `troughs` entries, so a garbage-collected heap's sawtooth neither hides a leak (the
 * peaks fall back) nor fakes one (the peaks' phase). Observing costs O(1). When a new trough
 * closes, the ring is analysed once and the result cached (amortised O(1) per sample):
 * 1. level shifts: a change-point scan compares medians of three troughs either side of every
 *    split; a jump far above the trough noise (robust σ from consecutive differences) after a
 *    locally flat stretch is a step (deploy, cache load), and only the troughs after it are tested;
 * 2. Mann–Kendall on the remaining troughs (tie-corrected variance) gives the confidence of a
 *    monotonic rise, Theil–Sen its rate with the Sen confidence interval;
 * 3. a rise whose second half grows at under 60% of the first half's rate is a plateau (warm-up,
 *    cache filling up), not a leak; and a rise is judged only once the tested troughs fill half
 *    the ring: over a shorter span a young process's (or a fresh deploy's) warm-up still looks
 *    like a straight line, so it is "insufficient" until then.
 * The time to the memory limit is when the trough line plus the typical saw amplitude (the
 * peaks, which is what the OOM killer sees) reaches the limit; its bounds come from the Sen
 * slope's 95% interval. Serial correlation of troughs is not modelled: bucket longer than the saw.
 */

/** Verdict of one assessment. */
export type LeakVerdict = "leak" | "plateau" | "step" | "stable" | "insufficient";

/** What the detector says about one process (or cgroup) at evaluation time. */
export interface LeakAssessment {
  /** True only for verdict "leak". */
  leaking: boolean;
  verdict: LeakVerdict;
  /** Growth rate of the troughs (bytes/s): Theil–Sen over the tested segment; for "plateau", the recent (second-half) rate. */
  rateBytesPerS: number;
  /** 95% interval of the rate (Sen), bytes/s. */
  rateLowBytesPerS: number;
  rateHighBytesPerS: number;
  /** 1 − one-sided Mann–Kendall p-value for "troughs increase" (0..1). */
  confidence: number;
  /** When the peaks reach the limit at the fitted rate (ms); null unless leaking toward a finite limit. */
  etaMs: number | null;
  /** Earliest plausible (upper rate bound), ms; null when etaMs is. */
  etaLowMs: number | null;
  /** Latest plausible (lower rate bound), ms; null when the lower bound does not grow. */
  etaHighMs: number | null;
  /** Trough line projected to the evaluation time (bytes). */
  troughBytes: number;
  /** Median detrended peak-to-trough height of the saw (bytes). */
  sawAmplitudeBytes: number;
  /** Troughs in the tested segment. */
  troughs: number;
  /** Time of the latest level shift found in the window (ms), or null. */
  stepAtMs: number | null;
}

export interface LeakDetectorOptions {
  /** Trough bucket (ms): longer than the saw period (GC cycle). Default 5 minutes. */
  bucketMs?: number;
  /** Troughs kept per series; the window is troughs × bucketMs. Default 48 (4 h at 5 min). Max 128. */
  troughs?: number;
  /** Fewer closed troughs than this: verdict "insufficient". Default 8. */
  minTroughs?: number;
  /** Minimum Mann–Kendall confidence to call a rise a leak. Default 0.99. */
  minConfidence?: number;
  /** Slower growth is never a leak (bytes/s). Default 0.5 MB/h. */
  minRateBytesPerS?: number;
  /** Initial slot capacity; columns double as needed. */
  initialCapacity?: number;
}

const VERDICTS: readonly LeakVerdict[] = ["insufficient", "stable", "step", "plateau", "leak"];
const V_INSUFFICIENT = 0;
const V_STABLE = 1;
const V_STEP = 2;
const V_PLATEAU = 3;
const V_LEAK = 4;

/** Troughs either side of a split in the change-point scan. */
const STEP_SIDE = 3;
/** A step's jump must exceed this many robust trough σ above the typical trend-driven jump. */
const STEP_Z = 6;
/** …and the troughs just before it must span less than this share of the jump (flat before). */
const STEP_FLAT_RATIO = 0.5;
/** Steps searched per window (a second deploy inside the window is handled too). */
const MAX_STEPS = 3;
/** Segment after a step needs this many troughs to be tested on its own. */
const MIN_SEGMENT = 6;
/** Second-half rate below this share of the first half's: the growth is levelling off. */
const PLATEAU_RATIO = 0.6;
/** Troughs from buckets with fewer samples than this share of the median are partial (gap edges). */
const PARTIAL_BUCKET_RATIO = 0.5;
const MAX_TROUGHS = 128;

export class LeakDetector {
  readonly bucketMs: number;
  readonly troughCapacity: number;
  /** troughs × bucketMs: older troughs fall out; a gap longer than this restarts the series. */
  readonly windowMs: number;
  private readonly minTroughs: number;
  private readonly minConfidence: number;
  private readonly minRatePerMs: number;
  private readonly pool: SlotPool;

  // Per slot: latest sample, open bucket, ring position, cached analysis.
  private lastT: Float64Array;
  private lastV: Float64Array;
  private samplesSeen: Float64Array;
  private bucketId: Float64Array;
  private bMin: Float64Array;
  private bMinT: Float64Array;
  private bMax: Float64Array;
  private bMaxT: Float64Array;
  private bCount: Float64Array;
  private head: Int32Array;
  private filled: Int32Array;
  private generation: Int32Array;
  private cGeneration: Int32Array;
  private cVerdict: Int32Array;
  /** 1 when the cached analysis went to the end; 0 when it stopped at "no leak" before the Sen slope (see `analyse`). */
  private cFull: Uint8Array;
  private cRate: Float64Array;
  private cRateLo: Float64Array;
  private cRateHi: Float64Array;
  private cConf: Float64Array;
  private cLevel: Float64Array;
  private cRefT: Float64Array;
  private cAmp: Float64Array;
  private cTroughs: Int32Array;
  private cStepT: Float64Array;
  private cSigma: Float64Array;
  // Per slot × trough: the ring.
  private trT: Float64Array;
  private trV: Float64Array;
  private trMaxT: Float64Array;
  private trMaxV: Float64Array;
  private trN: Float64Array;

  // Scratch for analysis (one series at a time).
  private readonly xs: Float64Array;
  private readonly ts: Float64Array;
  private readonly amps: Float64Array;
  private readonly peakDts: Float64Array;
  private readonly work: Float64Array;
  private readonly pairs: Float64Array;

  constructor(opts: LeakDetectorOptions = {}) {
    this.bucketMs = opts.bucketMs ?? 5 * 60_000;
    this.troughCapacity = Math.floor(opts.troughs ?? 48);
    if (!(this.bucketMs > 0)) throw new RangeError(`bucketMs must be > 0, got ${this.bucketMs}`);
    if (!(this.troughCapacity >= 8 && this.troughCapacity <= MAX_TROUGHS)) {
      throw new RangeError(`troughs must be in 8..${MAX_TROUGHS}, got ${opts.troughs}`);
    }
    this.windowMs = this.troughCapacity * this.bucketMs;
    this.minTroughs = Math.max(6, Math.min(this.troughCapacity, opts.minTroughs ?? 8));
    this.minConfidence = opts.minConfidence ?? 0.99;
    this.minRatePerMs = (opts.minRateBytesPerS ?? 0.5e6 / 3600) / 1000;
    const cap = Math.max(1, opts.initialCapacity ?? 64);
    const k = this.troughCapacity;
    this.lastT = new Float64Array(cap);
    this.lastV = new Float64Array(cap);
    this.samplesSeen = new Float64Array(cap);
    this.bucketId = new Float64Array(cap);
    this.bMin = new Float64Array(cap);
    this.bMinT = new Float64Array(cap);
    this.bMax = new Float64Array(cap);
    this.bMaxT = new Float64Array(cap);
    this.bCount = new Float64Array(cap);
    this.head = new Int32Array(cap);
    this.filled = new Int32Array(cap);
    this.generation = new Int32Array(cap);
    this.cGeneration = new Int32Array(cap).fill(-1);
    this.cVerdict = new Int32Array(cap);
    this.cFull = new Uint8Array(cap);
    this.cRate = new Float64Array(cap);
    this.cRateLo = new Float64Array(cap);
    this.cRateHi = new Float64Array(cap);
    this.cConf = new Float64Array(cap);
    this.cLevel = new Float64Array(cap);
    this.cRefT = new Float64Array(cap);
    this.cAmp = new Float64Array(cap);
    this.cTroughs = new Int32Array(cap);
    this.cStepT = new Float64Array(cap);
    this.cSigma = new Float64Array(cap);
    this.trT = new Float64Array(cap * k);
    this.trV = new Float64Array(cap * k);
    this.trMaxT = new Float64Array(cap * k);
    this.trMaxV = new Float64Array(cap * k);
    this.trN = new Float64Array(cap * k);
    this.xs = new Float64Array(k);
    this.ts = new Float64Array(k);
    this.amps = new Float64Array(k);
    this.peakDts = new Float64Array(k);
    this.work = new Float64Array(k);
    this.pairs = new Float64Array((k * (k - 1)) / 2);
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

  /** Time of the slot's latest sample (ms), or NaN when it has none. */
  lastTimeMs(slot: number): number {
    return this.samplesSeen[slot]! > 0 ? this.lastT[slot]! : NaN;
  }

  /** Adds one sample (bytes). O(1), no allocation; non-finite values are ignored. */
  observe(slot: number, tMs: number, bytes: number): void {
    if (!Number.isFinite(bytes) || !Number.isFinite(tMs)) return;
    const seen = this.samplesSeen[slot]!;
    const last = this.lastT[slot]!;
    if (seen > 0 && tMs < last) {
      this.observeLate(slot, tMs, bytes);
      return;
    }
    if (seen === 0 || tMs - last > this.windowMs) this.restart(slot);
    const b = Math.floor(tMs / this.bucketMs);
    if (this.samplesSeen[slot]! === 0 || b !== this.bucketId[slot]) {
      if (this.bCount[slot]! > 0) this.closeBucket(slot);
      this.openBucket(slot, b, tMs, bytes);
    } else {
      this.addToBucket(slot, tMs, bytes);
    }
    this.lastT[slot] = tMs;
    this.lastV[slot] = bytes;
    this.samplesSeen[slot] = this.samplesSeen[slot]! + 1;
  }

  /** Samples observed in a slot since it (re)started. */
  samples(slot: number): number {
    return this.samplesSeen[slot]!;
  }

  /**
   * Assessment at `nowMs` against a memory limit (bytes; Infinity or NaN for none). Cheap: the
   * trough analysis is redone only when a trough has closed since the last call.
   */
  assess(slot: number, nowMs: number, limitBytes: number): LeakAssessment {
    if (this.samplesSeen[slot]! === 0 || nowMs - this.lastT[slot]! > this.windowMs) return insufficient();
    if (this.cGeneration[slot] !== this.generation[slot] || this.cFull[slot] === 0) this.analyse(slot);
    const verdictCode = this.cVerdict[slot]!;
    if (verdictCode === V_INSUFFICIENT) return insufficient();
    const rate = this.cRate[slot]!;
    const amp = this.cAmp[slot]!;
    const troughNow = this.troughAt(slot, nowMs);
    const leaking = verdictCode === V_LEAK;
    const eta = leaking ? etaBounds(nowMs, limitBytes - amp - troughNow, Z975 * this.cSigma[slot]!, rate, this.cRateLo[slot]!, this.cRateHi[slot]!) : NO_ETA;
    const stepT = this.cStepT[slot]!;
    return {
      leaking,
      verdict: VERDICTS[verdictCode] ?? "insufficient",
      rateBytesPerS: rate * 1000,
      rateLowBytesPerS: this.cRateLo[slot]! * 1000,
      rateHighBytesPerS: this.cRateHi[slot]! * 1000,
      confidence: this.cConf[slot]!,
      etaMs: eta[0],
      etaLowMs: eta[1],
      etaHighMs: eta[2],
      troughBytes: troughNow,
      sawAmplitudeBytes: amp,
      troughs: this.cTroughs[slot]!,
      stepAtMs: Number.isNaN(stepT) ? null : stepT,
    };
  }

  /**
   * The assessment in the engine's `TrendForecast` shape (the `ForecastModel` contract), with the
   * memory limit as threshold: values are the peak line (troughs + saw height), the ETA is set
   * only for verdict "leak", and confidence is the Mann–Kendall confidence when leaking, else 0.
   * Undefined while the verdict is "insufficient" or fewer than `minSamples` samples were seen.
   */
  predict(slot: number, nowMs: number, limitBytes: number, horizonMs: number, minSamples = 0): TrendForecast | undefined {
    const a = this.assess(slot, nowMs, limitBytes);
    const n = this.samplesSeen[slot]!;
    if (a.verdict === "insufficient" || n < minSamples) return undefined;
    const slopePerMs = a.rateBytesPerS / 1000;
    const peakNow = a.troughBytes + a.sawAmplitudeBytes;
    return {
      lastValue: this.lastV[slot]!,
      lastTimeMs: this.lastT[slot]!,
      slopePerMs,
      fittedNow: peakNow,
      forecastValue: peakNow + (a.leaking ? slopePerMs * horizonMs : 0),
      etaMs: a.etaMs,
      etaLowMs: a.etaLowMs,
      etaHighMs: a.etaHighMs,
      confidence: a.leaking ? a.confidence : 0,
      samples: n,
      effectiveSamples: a.troughs,
      scaleMs: this.windowMs,
      residualStd: this.cSigma[slot]!,
    };
  }

  /**
   * `predict`'s `etaMs` alone (NaN where predict gives none or a null ETA), for an alert's
   * condition. Most processes do not leak: their analysis stops once Mann–Kendall says so,
   * before the Theil–Sen slope (most of its cost); `predict` completes it when asked.
   */
  eta(slot: number, nowMs: number, limitBytes: number, _horizonMs: number, minSamples = 0): number {
    const n = this.samplesSeen[slot]!;
    if (n === 0 || nowMs - this.lastT[slot]! > this.windowMs || n < minSamples) return NaN;
    if (this.cGeneration[slot] !== this.generation[slot]) this.analyse(slot, false);
    if (this.cVerdict[slot] !== V_LEAK) return NaN;
    return centralEta(nowMs, limitBytes - this.cAmp[slot]! - this.troughAt(slot, nowMs), this.cRate[slot]!) ?? NaN;
  }

  /** The cached trough line at `nowMs` (bytes): flat after a plateau's level. */
  private troughAt(slot: number, nowMs: number): number {
    return this.cLevel[slot]! + (this.cVerdict[slot] === V_PLATEAU ? 0 : this.cRate[slot]!) * Math.max(0, nowMs - this.cRefT[slot]!);
  }

  /**
   * Runs the trough analysis of a slot now (normally done lazily by `assess`); for benchmarks.
   * With `full` false it stops at a rise Mann–Kendall does not trust (no leak, whatever the
   * slope), leaving the rate, level and saw height uncomputed until `assess` asks.
   */
  analyse(slot: number, full = true): void {
    this.cGeneration[slot] = this.generation[slot]!;
    this.cFull[slot] = 1;
    this.cStepT[slot] = NaN;
    const n = this.gatherTroughs(slot);
    this.cTroughs[slot] = n;
    if (n < this.minTroughs) {
      this.cVerdict[slot] = V_INSUFFICIENT;
      return;
    }
    const ts = this.ts;
    const sigma = this.troughNoise(n);
    this.cSigma[slot] = sigma;
    let start = 0;
    for (let s = 0; s < MAX_STEPS; s++) {
      const j = this.findStep(start, n, sigma);
      if (j < 0) break;
      start = j;
      this.cStepT[slot] = ts[j]!;
    }
    const stepped = start > 0;
    const len = n - start;
    this.cTroughs[slot] = len;
    if (len < Math.max(MIN_SEGMENT, this.minTroughs >> 1)) {
      this.cacheFlat(slot, stepped ? V_STEP : V_INSUFFICIENT, n);
      return;
    }
    const { confidence, variance } = this.mannKendall(start, n);
    if (!full && !(confidence >= this.minConfidence)) {
      this.cVerdict[slot] = stepped ? V_STEP : V_STABLE;
      this.cFull[slot] = 0;
      return;
    }
    const mk = this.senInterval(start, n, variance);
    const rate = mk.slope;
    this.cRate[slot] = rate;
    this.cRateLo[slot] = mk.slopeLow;
    this.cRateHi[slot] = mk.slopeHigh;
    this.cConf[slot] = confidence;
    this.cRefT[slot] = ts[n - 1]!;
    this.cLevel[slot] = this.levelAt(start, n, rate, ts[n - 1]!);
    this.cAmp[slot] = this.sawAmplitude(start, n, rate);
    const rising = confidence >= this.minConfidence && rate > 0 && rate >= this.minRatePerMs;
    if (!rising) {
      this.cVerdict[slot] = stepped ? V_STEP : V_STABLE;
      return;
    }
    if (len < this.troughCapacity >> 1) {
      this.cVerdict[slot] = stepped ? V_STEP : V_INSUFFICIENT;
      return;
    }
    const half = len >> 1;
    const early = this.senSlope(start, start + half);
    const late = this.senSlope(n - half, n);
    if (late < PLATEAU_RATIO * early) {
      this.cVerdict[slot] = V_PLATEAU;
      this.cRate[slot] = late;
      this.cLevel[slot] = this.levelAt(n - half, n, late, ts[n - 1]!);
      return;
    }
    this.cVerdict[slot] = V_LEAK;
  }

  /** Copies usable closed troughs, oldest first, into xs/ts, with peak heights and offsets. */
  private gatherTroughs(slot: number): number {
    const k = this.troughCapacity;
    const filled = this.filled[slot]!;
    const base = slot * k;
    const first = (this.head[slot]! - filled + k) % k;
    for (let i = 0; i < filled; i++) this.work[i] = this.trN[base + ((first + i) % k)]!;
    const minCount = PARTIAL_BUCKET_RATIO * medianInPlace(this.work, filled);
    let n = 0;
    for (let i = 0; i < filled; i++) {
      const idx = base + ((first + i) % k);
      if (this.trN[idx]! < minCount) continue;
      this.xs[n] = this.trV[idx]!;
      this.ts[n] = this.trT[idx]!;
      // Peak height above the trough, minus what the trend itself adds between the two times.
      this.amps[n] = this.trMaxV[idx]! - this.trV[idx]!;
      this.peakDts[n] = this.trMaxT[idx]! - this.trT[idx]!;
      n++;
    }
    return n;
  }

  /** Robust σ of trough noise: MAD of consecutive differences, which a steady trend does not inflate. */
  private troughNoise(n: number): number {
    const w = this.work;
    for (let i = 1; i < n; i++) w[i - 1] = this.xs[i]! - this.xs[i - 1]!;
    const m = medianInPlace(w, n - 1);
    for (let i = 0; i < n - 1; i++) w[i] = Math.abs(w[i]! - m);
    const mad = medianInPlace(w, n - 1);
    for (let i = 0; i < n; i++) w[i] = this.xs[i]!;
    const level = Math.abs(medianInPlace(w, n));
    // Page-granular RSS can be exactly flat: floor σ at 0.01% of the level so rounding is no step.
    return Math.max((1.4826 * mad) / Math.SQRT2, 1e-4 * level, 1);
  }

  /**
   * Index of the first trough after the largest level shift in [from, n), or -1. The jump at a
   * split is median(next 3) − median(previous 3); a steady leak makes every jump about equal,
   * so the step is the split whose jump stands out from the median jump.
   */
  private findStep(from: number, n: number, sigma: number): number {
    const xs = this.xs;
    const w = this.work;
    const lo = from + STEP_SIDE;
    const hi = n - STEP_SIDE;
    if (hi < lo + 1) return -1;
    let m = 0;
    for (let k = lo; k <= hi; k++) w[m++] = jumpAt(xs, k);
    const typical = medianInPlace(w, m);
    let best = -1;
    let bestExcess = 0;
    for (let k = lo; k <= hi; k++) {
      const excess = jumpAt(xs, k) - typical;
      if (Math.abs(excess) > Math.abs(bestExcess)) {
        bestExcess = excess;
        best = k;
      }
    }
    if (best < 0 || Math.abs(bestExcess) <= STEP_Z * sigma) return -1;
    // The medians blur the split by ±1: take the largest single difference in that direction.
    const sign = Math.sign(bestExcess);
    let j = best;
    let jump = -Infinity;
    for (let i = Math.max(from + STEP_SIDE, best - 1); i <= Math.min(n - 1, best + 1); i++) {
      const d = sign * (xs[i]! - xs[i - 1]!);
      if (d > jump) {
        jump = d;
        j = i;
      }
    }
    // Flat before: the three troughs ahead of the jump must not already be climbing (warm-up).
    const a = xs[j - 3]!;
    const b = xs[j - 2]!;
    const c = xs[j - 1]!;
    const span = Math.max(a, b, c) - Math.min(a, b, c);
    if (span >= STEP_FLAT_RATIO * Math.abs(bestExcess)) return -1;
    return j;
  }

  /** Mann–Kendall on troughs [from, n): the confidence (0..1) that they rise, and the tie-corrected variance of S. */
  private mannKendall(from: number, n: number): { confidence: number; variance: number } {
    const xs = this.xs;
    let s = 0;
    let ties = 0;
    for (let i = from; i < n; i++) {
      const x = xs[i]!;
      for (let j = i + 1; j < n; j++) {
        const d = xs[j]! - x;
        if (d > 0) s++;
        else if (d < 0) s--;
        else ties++;
      }
    }
    const len = n - from;
    // Without a tied pair the tie term is 0: no sort.
    const variance = (len * (len - 1) * (2 * len + 5) - (ties > 0 ? this.tieTerm(from, n) : 0)) / 18;
    const z = variance > 0 ? (s - Math.sign(s)) / Math.sqrt(variance) : 0;
    return { confidence: normalCdf(z), variance };
  }

  /** Theil–Sen slope of troughs [from, n) with Sen's 95% interval, from Mann–Kendall's variance of S. */
  private senInterval(from: number, n: number, variance: number): { slope: number; slopeLow: number; slopeHigh: number } {
    const xs = this.xs;
    const ts = this.ts;
    const pairs = this.pairs;
    let np = 0;
    for (let i = from; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dt = ts[j]! - ts[i]!;
        if (dt > 0) pairs[np++] = (xs[j]! - xs[i]!) / dt;
      }
    }
    if (np === 0) return { slope: 0, slopeLow: 0, slopeHigh: 0 };
    const c = Z975 * Math.sqrt(Math.max(variance, 0));
    const loRank = clampInt(Math.round((np - c) / 2) - 1, 0, np - 1);
    const hiRank = clampInt(Math.round((np + c) / 2), 0, np - 1);
    // After the median's selection the array is partitioned around it: search each side only.
    const mid = np >> 1;
    const upper = selectKth(pairs, mid, 0, np);
    let lowerMid = upper;
    if (np % 2 === 0) {
      lowerMid = -Infinity;
      for (let i = 0; i < mid; i++) if (pairs[i]! > lowerMid) lowerMid = pairs[i]!;
    }
    const slope = (lowerMid + upper) / 2;
    const slopeLow = loRank < mid ? selectKth(pairs, loRank, 0, mid) : upper;
    const slopeHigh = hiRank > mid ? selectKth(pairs, hiRank, mid + 1, np) : upper;
    return { slope, slopeLow, slopeHigh };
  }

  /** Σ g(g−1)(2g+5) over groups of tied trough values in [from, n). */
  private tieTerm(from: number, n: number): number {
    const w = this.work;
    const len = n - from;
    for (let i = 0; i < len; i++) w[i] = this.xs[from + i]!;
    w.subarray(0, len).sort();
    let term = 0;
    let run = 1;
    for (let i = 1; i <= len; i++) {
      if (i < len && w[i] === w[i - 1]) {
        run++;
        continue;
      }
      if (run > 1) term += run * (run - 1) * (2 * run + 5);
      run = 1;
    }
    return term;
  }

  /** Theil–Sen slope (per ms) of troughs [from, to). */
  private senSlope(from: number, to: number): number {
    const pairs = this.pairs;
    let np = 0;
    for (let i = from; i < to; i++) {
      for (let j = i + 1; j < to; j++) {
        const dt = this.ts[j]! - this.ts[i]!;
        if (dt > 0) pairs[np++] = (this.xs[j]! - this.xs[i]!) / dt;
      }
    }
    return np === 0 ? 0 : medianInPlace(pairs, np);
  }

  /** Trough line's value at `refT` for slope `rate`: median of the troughs moved along the slope. */
  private levelAt(from: number, n: number, rate: number, refT: number): number {
    const w = this.work;
    for (let i = from; i < n; i++) w[i - from] = this.xs[i]! + rate * (refT - this.ts[i]!);
    return medianInPlace(w, n - from);
  }

  /** Median peak height above the trough, after removing the trend between trough and peak. */
  private sawAmplitude(from: number, n: number, rate: number): number {
    const w = this.work;
    let k = 0;
    for (let i = from; i < n; i++) w[k++] = Math.max(0, this.amps[i]! - rate * this.peakDts[i]!);
    return medianInPlace(w, k);
  }

  private cacheFlat(slot: number, verdict: number, n: number): void {
    const ts = this.ts;
    this.cVerdict[slot] = verdict;
    this.cRate[slot] = 0;
    this.cRateLo[slot] = 0;
    this.cRateHi[slot] = 0;
    this.cConf[slot] = 0.5;
    this.cRefT[slot] = ts[n - 1]!;
    this.cLevel[slot] = this.xs[n - 1]!;
    this.cAmp[slot] = this.sawAmplitude(n - 1, n, 0);
  }

  private openBucket(slot: number, bucket: number, tMs: number, bytes: number): void {
    this.bucketId[slot] = bucket;
    this.bMin[slot] = bytes;
    this.bMinT[slot] = tMs;
    this.bMax[slot] = bytes;
    this.bMaxT[slot] = tMs;
    this.bCount[slot] = 1;
  }

  private addToBucket(slot: number, tMs: number, bytes: number): void {
    if (bytes < this.bMin[slot]!) {
      this.bMin[slot] = bytes;
      this.bMinT[slot] = tMs;
    }
    if (bytes > this.bMax[slot]!) {
      this.bMax[slot] = bytes;
      this.bMaxT[slot] = tMs;
    }
    this.bCount[slot] = this.bCount[slot]! + 1;
  }

  private closeBucket(slot: number): void {
    const k = this.troughCapacity;
    const h = this.head[slot]!;
    const idx = slot * k + h;
    this.trT[idx] = this.bMinT[slot]!;
    this.trV[idx] = this.bMin[slot]!;
    this.trMaxT[idx] = this.bMaxT[slot]!;
    this.trMaxV[idx] = this.bMax[slot]!;
    this.trN[idx] = this.bCount[slot]!;
    this.head[slot] = (h + 1) % k;
    this.filled[slot] = Math.min(k, this.filled[slot]! + 1);
    this.generation[slot] = this.generation[slot]! + 1;
    this.bCount[slot] = 0;
  }

  /** A sample older than the latest: it can only refine the open bucket. */
  private observeLate(slot: number, tMs: number, bytes: number): void {
    if (this.bCount[slot]! > 0 && Math.floor(tMs / this.bucketMs) === this.bucketId[slot]) this.addToBucket(slot, tMs, bytes);
  }

  private restart(slot: number): void {
    const gen = this.generation[slot]!;
    this.clear(slot);
    // Keep the generation moving so a cached analysis of the old data is never reused.
    this.generation[slot] = gen + 1;
  }

  private clear(slot: number): void {
    this.lastT[slot] = 0;
    this.samplesSeen[slot] = 0;
    this.bucketId[slot] = 0;
    this.bCount[slot] = 0;
    this.head[slot] = 0;
    this.filled[slot] = 0;
    this.generation[slot] = 0;
    this.cGeneration[slot] = -1;
    this.cVerdict[slot] = V_INSUFFICIENT;
  }

  private grow(cap: number): void {
    const k = this.troughCapacity;
    this.lastT = resizeF64(this.lastT, cap);
    this.lastV = resizeF64(this.lastV, cap);
    this.samplesSeen = resizeF64(this.samplesSeen, cap);
    this.bucketId = resizeF64(this.bucketId, cap);
    this.bMin = resizeF64(this.bMin, cap);
    this.bMinT = resizeF64(this.bMinT, cap);
    this.bMax = resizeF64(this.bMax, cap);
    this.bMaxT = resizeF64(this.bMaxT, cap);
    this.bCount = resizeF64(this.bCount, cap);
    this.head = resizeI32(this.head, cap);
    this.filled = resizeI32(this.filled, cap);
    this.generation = resizeI32(this.generation, cap);
    this.cGeneration = resizeI32(this.cGeneration, cap);
    this.cVerdict = resizeI32(this.cVerdict, cap);
    this.cFull = resizeU8(this.cFull, cap);
    this.cRate = resizeF64(this.cRate, cap);
    this.cRateLo = resizeF64(this.cRateLo, cap);
    this.cRateHi = resizeF64(this.cRateHi, cap);
    this.cConf = resizeF64(this.cConf, cap);
    this.cLevel = resizeF64(this.cLevel, cap);
    this.cRefT = resizeF64(this.cRefT, cap);
    this.cAmp = resizeF64(this.cAmp, cap);
    this.cTroughs = resizeI32(this.cTroughs, cap);
    this.cStepT = resizeF64(this.cStepT, cap);
    this.cSigma = resizeF64(this.cSigma, cap);
    this.trT = resizeF64(this.trT, cap * k);
    this.trV = resizeF64(this.trV, cap * k);
    this.trMaxT = resizeF64(this.trMaxT, cap * k);
    this.trMaxV = resizeF64(this.trMaxV, cap * k);
    this.trN = resizeF64(this.trN, cap * k);
  }
}

const NO_ETA: readonly [number | null, number | null, number | null] = [null, null, null];

/**
 * ETA and bounds for covering `gapBytes` at a rate (per ms): the bounds take the rate's interval
 * and ± `levelSlackBytes` of uncertainty in where the troughs stand now.
 */
function etaBounds(
  nowMs: number,
  gapBytes: number,
  levelSlackBytes: number,
  rate: number,
  rateLo: number,
  rateHi: number,
): readonly [number | null, number | null, number | null] {
  const eta = centralEta(nowMs, gapBytes, rate);
  if (eta === null) return NO_ETA;
  if (gapBytes <= 0) return [nowMs, nowMs, nowMs];
  const low = nowMs + Math.max(0, gapBytes - levelSlackBytes) / Math.max(rateHi, rate);
  const high = rateLo > 0 ? nowMs + (gapBytes + levelSlackBytes) / Math.min(rateLo, rate) : null;
  return [eta, low, high];
}

/** When `gapBytes` is covered at `rate` (per ms): now when it already is, null when never (or no finite gap). */
function centralEta(nowMs: number, gapBytes: number, rate: number): number | null {
  if (!Number.isFinite(gapBytes)) return null;
  if (gapBytes <= 0) return nowMs;
  return rate > 0 ? nowMs + gapBytes / rate : null;
}

/** median(x[k..k+2]) − median(x[k−3..k−1]). */
function jumpAt(xs: Float64Array, k: number): number {
  return median3(xs[k]!, xs[k + 1]!, xs[k + 2]!) - median3(xs[k - 3]!, xs[k - 2]!, xs[k - 1]!);
}

function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function insufficient(): LeakAssessment {
  return {
    leaking: false,
    verdict: "insufficient",
    rateBytesPerS: 0,
    rateLowBytesPerS: 0,
    rateHighBytesPerS: 0,
    confidence: 0,
    etaMs: null,
    etaLowMs: null,
    etaHighMs: null,
    troughBytes: NaN,
    sawAmplitudeBytes: NaN,
    troughs: 0,
    stepAtMs: null,
  };
}
