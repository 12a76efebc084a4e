import { describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { AnomalyDetector } from "./anomaly.js";

const S = 1000;

/** Noisy series with spikes at known indices; counts hits and false positives at score > threshold. */
function spikeRun(opts: {
  seed: number;
  samples: number;
  spikes: number;
  spikeSigmas: number;
  threshold: number;
  noise: (r: () => number) => number;
  drift?: ((i: number) => number) | undefined;
}) {
  const rand = seededRandom(opts.seed);
  const det = new AnomalyDetector({ threshold: opts.threshold });
  const slot = det.allocate();
  const spikeAt = new Set<number>();
  while (spikeAt.size < opts.spikes) spikeAt.add(100 + Math.floor(rand() * (opts.samples - 100)));
  let hits = 0;
  let falsePositives = 0;
  for (let i = 0; i < opts.samples; i++) {
    const base = 100 + (opts.drift?.(i) ?? 0) + opts.noise(rand);
    const spike = spikeAt.has(i) ? opts.spikeSigmas * (rand() < 0.5 ? -1 : 1) : 0;
    const score = det.observe(slot, i * 15 * S, base + spike);
    if (score > det.threshold) {
      if (spikeAt.has(i)) hits++;
      else falsePositives++;
    }
  }
  return { hits, falsePositives, flagged: det.state(slot).flagged };
}

const laplace = (r: () => number): number => {
  const u = r() - 0.5;
  return (-Math.sign(u) * Math.log(1 - 2 * Math.abs(u))) / Math.SQRT2; // unit variance
};

describe("AnomalyDetector", () => {
  const cases = [
    { name: "gaussian noise, 8σ spikes", noise: gaussian, threshold: 4, spikeSigmas: 8, minHits: 0.97, maxFalsePer10k: 3 },
    { name: "gaussian noise, 6σ spikes", noise: gaussian, threshold: 4, spikeSigmas: 6, minHits: 0.85, maxFalsePer10k: 3 },
    { name: "gaussian noise on a slow drift", noise: gaussian, threshold: 4, drift: (i: number) => 20 * Math.sin(i / 2000), spikeSigmas: 8, minHits: 0.97, maxFalsePer10k: 3 },
    // Heavy tails: P(|x| > 4σ) is 0.35% for Laplace noise itself, so threshold 4 flags ~50 per 10k;
    // threshold 7 brings it near the gaussian rate (the documented advice).
    { name: "Laplace noise, threshold 4", noise: laplace, threshold: 4, spikeSigmas: 12, minHits: 0.97, maxFalsePer10k: 80 },
    { name: "Laplace noise, threshold 7", noise: laplace, threshold: 7, spikeSigmas: 12, minHits: 0.9, maxFalsePer10k: 5 },
  ];
  it.each(cases)("$name: finds injected spikes with few false positives (5 seeds × 20k samples)", (c) => {
    let hits = 0;
    let falsePositives = 0;
    const spikes = 50;
    for (let seed = 1; seed <= 5; seed++) {
      const r = spikeRun({ seed, samples: 20_000, spikes, spikeSigmas: c.spikeSigmas, threshold: c.threshold, noise: c.noise, drift: c.drift });
      hits += r.hits;
      falsePositives += r.falsePositives;
      expect(r.flagged).toBe(r.hits + r.falsePositives);
    }
    expect(hits / (5 * spikes)).toBeGreaterThanOrEqual(c.minHits);
    expect((falsePositives / (5 * 20_000)) * 10_000).toBeLessThanOrEqual(c.maxFalsePer10k);
  });

  it("ignores a spike during warm-up (median/MAD baseline)", () => {
    const rand = seededRandom(2);
    const det = new AnomalyDetector({ warmupSamples: 30 });
    const s = det.allocate();
    for (let i = 0; i < 30; i++) det.observe(s, i, i === 10 ? 1e6 : 50 + gaussian(rand));
    const st = det.state(s);
    expect(st.warmingUp).toBe(false);
    expect(st.mean).toBeCloseTo(50, 0);
    expect(st.std).toBeLessThan(2);
    expect(det.observe(s, 31, 58)).toBeGreaterThan(4);
  });

  it("flags a level shift after `consecutive` samples, then relearns it as normal", () => {
    const rand = seededRandom(3);
    const det = new AnomalyDetector({ consecutive: 3, warmupSamples: 20, relearnAfter: 40 });
    const s = det.allocate();
    let i = 0;
    for (; i < 500; i++) det.observe(s, i, 10 + gaussian(rand));
    expect(det.state(s).anomalous).toBe(false);
    const states: boolean[] = [];
    for (let k = 0; k < 3; k++, i++) {
      det.observe(s, i, 30 + gaussian(rand));
      states.push(det.state(s).anomalous);
    }
    expect(states).toEqual([false, false, true]);
    for (let k = 0; k < 200; k++, i++) det.observe(s, i, 30 + gaussian(rand));
    const after = det.state(s);
    expect(after.anomalous).toBe(false);
    expect(after.mean).toBeCloseTo(30, 0);
  });

  it("scores only the chosen direction", () => {
    const rand = seededRandom(4);
    const det = new AnomalyDetector({ direction: "up" });
    const s = det.allocate();
    for (let i = 0; i < 200; i++) det.observe(s, i, 100 + gaussian(rand));
    expect(det.observe(s, 200, 80)).toBe(0);
    expect(det.observe(s, 201, 120)).toBeGreaterThan(10);
  });

  it("keeps scores finite on a constant series, with minStd setting the scale", () => {
    const det = new AnomalyDetector({ minStd: 0.5 });
    const s = det.allocate();
    for (let i = 0; i < 100; i++) expect(det.observe(s, i, 0)).toBe(0);
    expect(det.observe(s, 100, 1)).toBeCloseTo(2, 6);
    expect(det.observe(s, 101, 3)).toBeGreaterThan(4);
    expect(det.observe(s, 102, Number.NaN)).toBe(0);
    expect(det.state(s).samples).toBe(102);
  });

  it("keeps slots independent across growth and reuse", () => {
    const det = new AnomalyDetector({ initialCapacity: 1, warmupSamples: 10 });
    const slots = [det.allocate(), det.allocate(), det.allocate()];
    for (let i = 0; i < 50; i++) slots.forEach((s, k) => det.observe(s, i, 100 * k + (i % 2)));
    // Alternating 0/1 offsets: median 0.5 above each slot's base.
    slots.forEach((s, k) => expect(det.state(s).mean).toBeCloseTo(100 * k + 0.5, 1));
    det.release(slots[2]!);
    const again = det.allocate();
    expect(again).toBe(slots[2]);
    expect(det.state(again).warmingUp).toBe(true);
    expect(det.state(again).flagged).toBe(0);
  });
});
