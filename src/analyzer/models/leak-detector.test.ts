import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { gaussian, seededRandom } from "../test-helpers.js";
import { LeakDetector, type LeakAssessment, type LeakVerdict } from "./leak-detector.js";

const MB = 1e6;
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const LIMIT_BYTES = 2000 * MB;
const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);

/** A process's RSS: trough line (base + leak + warm-up + step) under a GC saw of random period. */
interface Scenario {
  leakMBPerH: number;
  hours: number;
  bucketMs?: number;
  warmup?: { mb: number; tauH: number };
  step?: { atH: number; mb: number };
  gapsH?: ReadonlyArray<readonly [number, number]>;
  noiseMB?: number;
}

const SAW_MB = 60;
const BASE_MB = 400;
const STEP_MS = 15 * S;

function troughAt(sc: Scenario, tMs: number): number {
  let v = BASE_MB * MB + (sc.leakMBPerH * MB * tMs) / H;
  if (sc.warmup) v += sc.warmup.mb * MB * (1 - Math.exp(-tMs / (sc.warmup.tauH * H)));
  if (sc.step && tMs >= sc.step.atH * H) v += sc.step.mb * MB;
  return v;
}

/** Feeds the scenario every 15 s; returns the assessment at the last sample and the true ETA. */
function simulate(sc: Scenario, seed: number): { a: LeakAssessment; nowMs: number; trueEtaMs: number } {
  const rand = seededRandom(seed);
  const det = new LeakDetector({ bucketMs: sc.bucketMs ?? 5 * MIN, troughs: 48 });
  const slot = det.allocate();
  const nextPeriod = (): number => 2 * MIN * (0.7 + 0.6 * rand());
  let period = nextPeriod();
  let cycleStart = 0;
  let nowMs = 0;
  for (let t = 0; t <= sc.hours * H; t += STEP_MS) {
    while (t - cycleStart >= period) {
      cycleStart += period;
      period = nextPeriod();
    }
    if (sc.gapsH?.some(([a, b]) => t >= a * H && t < b * H)) continue;
    const saw = SAW_MB * MB * ((t - cycleStart) / period);
    det.observe(slot, t, troughAt(sc, t) + saw + (sc.noiseMB ?? 2) * MB * gaussian(rand));
    nowMs = t;
  }
  // The OOM killer sees the peaks: trough + saw height.
  const gap = LIMIT_BYTES - SAW_MB * MB - troughAt(sc, nowMs);
  const trueEtaMs = nowMs + (gap / (sc.leakMBPerH * MB)) * H;
  return { a: det.assess(slot, nowMs, LIMIT_BYTES), nowMs, trueEtaMs };
}

describe("LeakDetector on simulated GC sawtooth", () => {
  const leaks: Array<{ name: string; sc: Scenario }> = [
    { name: "2 MB/h over 12 h (15 min troughs)", sc: { leakMBPerH: 2, hours: 12, bucketMs: 15 * MIN } },
    { name: "20 MB/h over 4 h", sc: { leakMBPerH: 20, hours: 4 } },
    { name: "200 MB/h over 4 h", sc: { leakMBPerH: 200, hours: 4 } },
    { name: "20 MB/h with two gaps", sc: { leakMBPerH: 20, hours: 4, gapsH: [[1, 1.5], [2.2, 2.4]] } },
    { name: "20 MB/h after a deploy step", sc: { leakMBPerH: 20, hours: 4, step: { atH: 1.5, mb: 80 } } },
  ];
  it.each(leaks)("$name: verdict leak, rate and ETA within 20% (10 seeds)", ({ sc }) => {
    for (const seed of SEEDS) {
      const { a, nowMs, trueEtaMs } = simulate(sc, seed);
      expect(a.verdict, `seed ${seed}`).toBe("leak");
      expect(a.leaking).toBe(true);
      expect(a.confidence).toBeGreaterThan(0.99);
      const rateMBPerH = (a.rateBytesPerS * 3600) / MB;
      expect(Math.abs(rateMBPerH / sc.leakMBPerH - 1), `seed ${seed} rate ${rateMBPerH}`).toBeLessThan(0.2);
      expect(a.etaMs).not.toBeNull();
      expect(Math.abs((a.etaMs! - nowMs) / (trueEtaMs - nowMs) - 1), `seed ${seed}`).toBeLessThan(0.2);
      expect(a.etaLowMs!).toBeLessThanOrEqual(a.etaMs!);
      expect(a.etaHighMs!).toBeGreaterThanOrEqual(a.etaMs!);
      expect(a.rateLowBytesPerS).toBeLessThanOrEqual(a.rateBytesPerS);
      expect(a.rateHighBytesPerS).toBeGreaterThanOrEqual(a.rateBytesPerS);
    }
  });

  const others: Array<{ name: string; sc: Scenario; verdict: LeakVerdict }> = [
    { name: "flat with noise", sc: { leakMBPerH: 0, hours: 4 }, verdict: "stable" },
    { name: "flat with heavy noise", sc: { leakMBPerH: 0, hours: 4, noiseMB: 8 }, verdict: "stable" },
    { name: "warm-up that plateaus (τ 30 min)", sc: { leakMBPerH: 0, hours: 4, warmup: { mb: 100, tauH: 0.5 } }, verdict: "plateau" },
    { name: "warm-up that plateaus (τ 1 h)", sc: { leakMBPerH: 0, hours: 4, warmup: { mb: 100, tauH: 1 } }, verdict: "plateau" },
    { name: "deploy step, flat after", sc: { leakMBPerH: 0, hours: 4, step: { atH: 1.5, mb: 80 } }, verdict: "step" },
    { name: "deploy step late in the window", sc: { leakMBPerH: 0, hours: 4, step: { atH: 3.2, mb: 80 } }, verdict: "step" },
  ];
  it.each(others)("$name: verdict $verdict, not leaking (10 seeds)", ({ sc, verdict }) => {
    for (const seed of SEEDS) {
      const { a } = simulate(sc, seed);
      expect(a.verdict, `seed ${seed}`).toBe(verdict);
      expect(a.leaking).toBe(false);
      expect(a.etaMs).toBeNull();
      if (verdict === "step") expect(Math.abs(a.stepAtMs! - sc.step!.atH * H)).toBeLessThanOrEqual(10 * MIN);
    }
  });

  it("says insufficient before enough troughs, and again after a gap longer than the window", () => {
    const det = new LeakDetector({ bucketMs: MIN, troughs: 16 });
    const slot = det.allocate();
    for (let t = 0; t < 5 * MIN; t += 10 * S) det.observe(slot, t, 1e8 + t);
    expect(det.assess(slot, 5 * MIN, LIMIT_BYTES).verdict).toBe("insufficient");
    for (let t = 5 * MIN; t < 20 * MIN; t += 10 * S) det.observe(slot, t, 1e8 + t * 10);
    expect(det.assess(slot, 20 * MIN, LIMIT_BYTES).verdict).toBe("leak");
    det.observe(slot, 60 * MIN, 1e8);
    expect(det.assess(slot, 60 * MIN, LIMIT_BYTES).verdict).toBe("insufficient");
    // Stale series (no sample for a window) are not assessed either.
    expect(det.assess(slot, 200 * MIN, LIMIT_BYTES).verdict).toBe("insufficient");
  });

  it("puts the ETA at now once the peaks are over the limit, and none without a limit", () => {
    const det = new LeakDetector({ bucketMs: MIN, troughs: 16 });
    const slot = det.allocate();
    let t = 0;
    for (; t < 20 * MIN; t += 10 * S) det.observe(slot, t, 1e8 + t * 10);
    const now = t - 10 * S;
    const over = det.assess(slot, now, 1e8);
    expect([over.etaMs, over.etaLowMs, over.etaHighMs]).toEqual([now, now, now]);
    const none = det.assess(slot, now, Infinity);
    expect(none.leaking).toBe(true);
    expect(none.etaMs).toBeNull();
  });

  it("keeps slots independent across growth and reuse", () => {
    const det = new LeakDetector({ bucketMs: MIN, troughs: 16, initialCapacity: 2 });
    const slots = Array.from({ length: 9 }, () => det.allocate());
    for (let t = 0; t < 20 * MIN; t += 10 * S) {
      for (const [i, s] of slots.entries()) det.observe(s, t, 1e8 + (i % 2 === 0 ? t * 10 : 0));
    }
    const verdicts = slots.map((s) => det.assess(s, 20 * MIN - 10 * S, LIMIT_BYTES).verdict);
    expect(verdicts).toEqual(slots.map((_, i) => (i % 2 === 0 ? "leak" : "stable")));
    det.release(slots[0]!);
    const again = det.allocate();
    expect(again).toBe(slots[0]);
    expect(det.assess(again, 20 * MIN, LIMIT_BYTES).verdict).toBe("insufficient");
    expect(det.slotCount).toBe(9);
  });
});

/**
 * A real Node child that allocates garbage (4 × 4 MiB per 100 ms, freed with a forced GC every
 * 300 ms, so RSS saws) and, when leaking, retains 2 MiB per 100 ms. Large buffers are mmapped
 * (MALLOC_MMAP_THRESHOLD_ pins glibc's threshold) so freeing them really lowers RSS.
 */
const CHILD_SCRIPT = (leak: boolean): string => `
const retained = [];
let garbage = [];
let ticks = 0;
setInterval(() => {
  ${leak ? "retained.push(Buffer.alloc(2 * 1024 * 1024, 1));" : ""}
  for (let i = 0; i < 4; i++) garbage.push(Buffer.alloc(4 * 1024 * 1024, 2));
  if (++ticks % 3 === 0) { garbage = []; globalThis.gc(); }
  process.stdout.write(JSON.stringify({ t: Date.now(), retainedBytes: retained.length * 2 * 1024 * 1024 }) + "\\n");
}, 100);
`;

interface ChildRun {
  assessment: LeakAssessment;
  /** Retained bytes per second as the child itself reports them. */
  trueRateBytesPerS: number;
  rssSamples: number;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

async function readRssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(text);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Runs the child, samples VmRSS every 100 ms for `durationMs` after it is up, assesses. */
async function runChild(leak: boolean, durationMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ["--expose-gc", "-e", CHILD_SCRIPT(leak)], {
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: "131072" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const reports: Array<{ t: number; retainedBytes: number }> = [];
  let buffered = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) reports.push(JSON.parse(line) as { t: number; retainedBytes: number });
  });
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.stdout!.once("data", () => resolve());
  });
  // Let start-up settle (JIT, first heap growth) before watching.
  await sleep(500);
  // Over 8 s the production floor (0.5 MB/h) is meaningless: allocator noise moves troughs by
  // tens of kB/s. 1 MB/s is 5% of the leak's rate.
  const det = new LeakDetector({ bucketMs: 600, troughs: 16, minTroughs: 8, minRateBytesPerS: 1e6 });
  const slot = det.allocate();
  const pid = child.pid!;
  const startedMs = Date.now();
  const firstReport = reports.length;
  let rssSamples = 0;
  while (Date.now() - startedMs < durationMs) {
    const now = Date.now();
    det.observe(slot, now, await readRssBytes(pid));
    rssSamples++;
    await sleep(100 - ((Date.now() - startedMs) % 100));
  }
  child.kill("SIGKILL");
  const seen = reports.slice(firstReport);
  const a = seen[0]!;
  const b = seen[seen.length - 1]!;
  return {
    assessment: det.assess(slot, Date.now(), Infinity),
    trueRateBytesPerS: ((b.retainedBytes - a.retainedBytes) / (b.t - a.t)) * 1000,
    rssSamples,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

describe("LeakDetector on a real process (/proc/PID/status VmRSS every 100 ms for 8 s)", () => {
  it("finds the leak of a child retaining 2 MiB per 100 ms under a GC saw, rate within 30%", async () => {
    const run = await runChild(true, 8000);
    const a = run.assessment;
    expect(run.rssSamples).toBeGreaterThan(60);
    expect(a.verdict).toBe("leak");
    expect(a.leaking).toBe(true);
    expect(Math.abs(a.rateBytesPerS / run.trueRateBytesPerS - 1), `rate ${a.rateBytesPerS} vs ${run.trueRateBytesPerS}`).toBeLessThan(0.3);
    // The saw is real: peaks stand well above the troughs.
    expect(a.sawAmplitudeBytes).toBeGreaterThan(8 * 1024 * 1024);
  });

  it("does not call a child that allocates and frees (no retention) leaking", async () => {
    const run = await runChild(false, 8000);
    expect(run.trueRateBytesPerS).toBe(0);
    expect(run.assessment.verdict).not.toBe("insufficient");
    expect(run.assessment.leaking).toBe(false);
  });
});
