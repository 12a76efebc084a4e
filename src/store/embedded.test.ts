import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Aggregate, Clock } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { seriesKey, type Point } from "../core/point.js";
import { openEmbeddedStore, type EmbeddedStore, type EmbeddedStoreOptions } from "./embedded.js";

const log = pino({ level: "silent" });
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const writer = path.join(here, "testdata/writer.ts");
const MIN = 60_000;
const DAY = 86_400_000;

let dir: string;
let open: EmbeddedStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ansai-store-"));
});
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()));
  open = [];
  await rm(dir, { recursive: true, force: true });
});

async function openStore(extra: Partial<EmbeddedStoreOptions> = {}): Promise<EmbeddedStore> {
  const store = await openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => Date.now() }, ...extra });
  open.push(store);
  return store;
}

const point = (timeMs: number, fields: Point["fields"], tags: Record<string, string> = { host: "a" }, measurement = "cpu"): Point => ({
  measurement,
  tags,
  fields,
  timeMs,
});

describe("round trip", () => {
  // Aligned to 10 s and 20 s; three buckets of 10 s with hand-computed aggregates.
  const T0 = 1_700_000_000_000;
  const key = seriesKey("cpu", { host: "a" }, "usage_percent");
  const data: Array<[number, number]> = [
    [T0 + 9_999, 3], // written first: `last` must go by time, not by arrival
    [T0, 1],
    [T0 + 2_000, 5],
    [T0 + 10_000, 10],
    [T0 + 25_000, -2],
    [T0 + 29_000, 4],
  ];
  const cases: Array<[Aggregate, number[]]> = [
    ["mean", [3, 10, 1]],
    ["min", [1, 10, -2]],
    ["max", [5, 10, 4]],
    ["last", [3, 10, 4]],
    ["count", [3, 1, 2]],
    ["sum", [9, 10, 2]],
  ];

  async function seeded(): Promise<EmbeddedStore> {
    const store = await openStore();
    store.write(data.map(([t, v]) => point(t, { usage_percent: v })));
    await store.flush();
    return store;
  }

  it.each(cases)("aggregates %s per 10 s bucket", async (aggregate, want) => {
    const store = await seeded();
    const got = await store.query({ series: key, startMs: T0, endMs: T0 + 30_000, stepMs: 10_000, aggregate });
    expect(got).toEqual([
      [T0, want[0]],
      [T0 + 10_000, want[1]],
      [T0 + 20_000, want[2]],
    ]);
  });

  it("aligns buckets to multiples of the step, not to startMs", async () => {
    const store = await seeded();
    const got = await store.query({ series: key, startMs: T0 + 5_000, endMs: T0 + 30_000, stepMs: 20_000, aggregate: "count" });
    expect(got).toEqual([
      [T0, 2],
      [T0 + 20_000, 2],
    ]);
    const odd = await store.query({ series: key, startMs: T0, endMs: T0 + 30_000, stepMs: 7_000, aggregate: "count" });
    expect(odd.every(([b]) => b % 7_000 === 0)).toBe(true);
    expect(odd.map(([b]) => b)).toEqual([...odd.map(([b]) => b)].sort((a, b) => a - b));
    expect(odd.reduce((n, [, c]) => n + c, 0)).toBe(6);
  });

  it("excludes endMs, returns [] for unknown series, and rejects a bad query", async () => {
    const store = await seeded();
    expect(await store.query({ series: key, startMs: T0, endMs: T0 + 25_000, stepMs: 60_000, aggregate: "count" })).toEqual([[T0 - (T0 % 60_000), 4]]);
    expect(await store.query({ series: "nope x", startMs: T0, endMs: T0 + 1, stepMs: 1, aggregate: "sum" })).toEqual([]);
    await expect(store.query({ series: key, startMs: T0, endMs: T0 + 1, stepMs: 0, aggregate: "sum" })).rejects.toMatchObject({
      code: ErrorCodes.QUERY_INVALID,
    });
  });

  it("shows queued points to a query before any flush", async () => {
    const store = await openStore();
    store.write([point(T0, { usage_percent: 7 })]);
    expect(store.pendingPoints()).toBe(1);
    expect(await store.query({ series: key, startMs: T0, endMs: T0 + 1, stepMs: 1000, aggregate: "last" })).toEqual([[T0, 7]]);
    expect(store.pendingPoints()).toBe(0);
  });
});

describe("fields", () => {
  it("stores booleans as 0/1, ignores strings, drops NaN and Infinity, and counts them", async () => {
    const registry = new Registry();
    const store = await openStore({ registry });
    store.write([point(1000, { ok: true, bad: false, msg: "hello", nan: NaN, inf: Infinity, v: 2.5 })]);
    await store.flush();
    const fields = (await store.listSeries({})).map((s) => s.field).sort();
    expect(fields).toEqual(["bad", "ok", "v"]);
    const q = (field: string) => store.query({ series: seriesKey("cpu", { host: "a" }, field), startMs: 0, endMs: 2000, stepMs: 1000, aggregate: "last" });
    expect(await q("ok")).toEqual([[1000, 1]]);
    expect(await q("bad")).toEqual([[1000, 0]]);
    expect(await q("v")).toEqual([[1000, 2.5]]);
    const text = await registry.metrics();
    expect(text).toContain('ansai_store_points_dropped_total{reason="non_numeric"} 1');
    expect(text).toContain('ansai_store_points_dropped_total{reason="not_finite"} 2');
    expect(text).toContain("ansai_store_points_written_total 3");
    expect(text).toContain("ansai_store_series 3");
    expect(text).toContain("ansai_store_flush_duration_seconds_count 1");
  });
});

describe("series found by their tags object", () => {
  // A frozen tags object lets write() cache field ids by identity; these pin the cache to the series keys.
  const shared = Object.freeze({ host: "a" });
  const cases: Array<[string, Point[], Array<[string, Record<string, string>, string, number[]]>]> = [
    [
      "one frozen tags object under two measurements",
      [point(1, { v: 1 }, shared, "cpu"), point(1, { v: 2 }, shared, "mem"), point(2, { v: 3 }, shared, "cpu"), point(2, { v: 4 }, shared, "mem")],
      [
        ["cpu", { host: "a" }, "v", [1, 3]],
        ["mem", { host: "a" }, "v", [2, 4]],
      ],
    ],
    [
      "fields in another order, fewer fields, a new field",
      [point(1, { a: 1, b: 2 }, shared), point(2, { b: 20, a: 10 }, shared), point(3, { b: 200 }, shared), point(4, { c: 3000, a: 1000 }, shared)],
      [
        ["cpu", { host: "a" }, "a", [1, 10, 1000]],
        ["cpu", { host: "a" }, "b", [2, 20, 200]],
        ["cpu", { host: "a" }, "c", [3000]],
      ],
    ],
    [
      "a string field before numbers keeps the others in place",
      [point(1, { s: "x", v: 1 }, shared), point(2, { v: 2, s: "y" }, shared), point(3, { s: "z", v: 3 }, shared)],
      [["cpu", { host: "a" }, "v", [1, 2, 3]]],
    ],
    [
      "a frozen and a plain tags object of the same series, and an escaped field",
      [point(1, { "a b": 1 }, shared), point(2, { "a b": 2 }, { host: "a" }), point(3, { "a b": 3 }, Object.freeze({ host: "a" }))],
      [["cpu", { host: "a" }, "a b", [1, 2, 3]]],
    ],
  ];

  it.each(cases)("%s", async (_name, points, want) => {
    const store = await openStore();
    store.write(points.slice(0, 2));
    store.write(points.slice(2));
    await store.flush();
    expect((await store.listSeries({})).map((s) => s.key).sort()).toEqual(want.map(([m, tags, f]) => seriesKey(m, tags, f)).sort());
    for (const [m, tags, f, values] of want) {
      const got = await store.query({ series: seriesKey(m, tags, f), startMs: 0, endMs: 10, stepMs: 1, aggregate: "last" });
      expect(got.map(([, v]) => v)).toEqual(values);
    }
  });

  it("appends batches of several data chunks exactly", async () => {
    // 5,000 points × 3 fields spans 8 chunks of 2,048 rows; times change within and across chunks.
    const store = await openStore({ maxBatchPoints: 1_000_000 });
    const tags = Object.freeze({ host: "a" });
    store.write(Array.from({ length: 5_000 }, (_, i) => point(i, { x: i, y: -i / 4, z: i % 7 === 0 }, tags)));
    await store.flush();
    for (const [field, sum] of [["x", (4_999 * 5_000) / 2], ["y", -(4_999 * 5_000) / 8], ["z", 715]] as const) {
      const got = await store.query({ series: seriesKey("cpu", { host: "a" }, field), startMs: 0, endMs: 5_000, stepMs: 5_000, aggregate: "sum" });
      expect(got).toEqual([[0, sum]]);
    }
    const times = await store.query({ series: seriesKey("cpu", { host: "a" }, "x"), startMs: 0, endMs: 5_000, stepMs: 1, aggregate: "last" });
    expect(times.every(([t, v]) => t === v)).toBe(true);
    expect(times).toHaveLength(5_000);
  });
});

describe("batching", () => {
  it("flushes a full batch at once and on the timer", async () => {
    const store = await openStore({ maxBatchPoints: 100, flushIntervalMs: 60_000 });
    store.write(Array.from({ length: 150 }, (_, i) => point(i, { v: i })));
    expect(store.pendingPoints()).toBe(150);
    await vi.waitFor(() => expect(store.pendingPoints()).toBe(0));

    const timed = await openEmbeddedStore({ dataDir: path.join(dir, "timed"), log, clock: { nowMs: () => 0 }, flushIntervalMs: 20 });
    open.push(timed);
    timed.write([point(1, { v: 1 })]);
    await vi.waitFor(() => expect(timed.pendingPoints()).toBe(0));
    expect((await timed.stats()).points).toBe(1);
  });

  it("counts what it loses when the queue is full (for the store_points_dropped alert), not what input it rejects", async () => {
    // 20 batches of 10 may wait: one synchronous write of 300 values overflows before any flush runs.
    const store = await openStore({ maxBatchPoints: 10, flushIntervalMs: 60_000 });
    store.write([point(0, { text: "not a number" })]);
    expect(store.droppedPoints()).toEqual({});
    store.write(Array.from({ length: 300 }, (_, i) => point(i + 1, { v: i })));
    const lost = store.droppedPoints().queue_full ?? 0;
    expect(lost).toBeGreaterThan(0);
    await store.flush();
    expect((await store.stats()).points + lost).toBe(300);
  });

  it("commits every point when writes and flushes interleave", async () => {
    const store = await openStore({ maxBatchPoints: 7 });
    const flushes: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) {
      store.write([point(i, { v: i }), point(i, { w: i })]);
      if (i % 3 === 0) flushes.push(store.flush());
    }
    await Promise.all(flushes);
    await store.flush();
    expect((await store.stats()).points).toBe(100);
  });
});

describe("series", () => {
  it("keeps interned ids across close and reopen", async () => {
    const a = seriesKey("disk", { host: "h1", path: "/var" }, "used_percent");
    const first = await openStore();
    first.write([
      point(1000, { used_percent: 10 }, { host: "h1", path: "/var" }, "disk"),
      point(1000, { used_percent: 20 }, { host: "h1", path: "/" }, "disk"),
    ]);
    await first.close();

    const second = await openStore();
    expect((await second.listSeries({})).map((s) => s.key)).toEqual([a, seriesKey("disk", { host: "h1", path: "/" }, "used_percent")]);
    second.write([
      point(2000, { used_percent: 11 }, { host: "h1", path: "/var" }, "disk"),
      point(2000, { free_bytes: 5 }, { host: "h1", path: "/var" }, "disk"),
    ]);
    expect(await second.query({ series: a, startMs: 0, endMs: 3000, stepMs: 1000, aggregate: "last" })).toEqual([
      [1000, 10],
      [2000, 11],
    ]);
    const free = seriesKey("disk", { host: "h1", path: "/var" }, "free_bytes");
    expect(await second.query({ series: free, startMs: 0, endMs: 3000, stepMs: 1000, aggregate: "last" })).toEqual([[2000, 5]]);
    expect((await second.stats()).series).toBe(3);
  });

  it("filters series by measurement, field, tags and limit", async () => {
    const store = await openStore();
    store.write([
      point(1, { used_percent: 1, free_bytes: 2 }, { host: "h1", path: "/" }, "disk"),
      point(1, { used_percent: 1 }, { host: "h2", path: "/" }, "disk"),
      point(1, { usage_percent: 1 }, { host: "h1" }, "cpu"),
    ]);
    expect(await store.listSeries({ measurement: "disk" })).toHaveLength(3);
    expect(await store.listSeries({ field: "used_percent" })).toHaveLength(2);
    expect((await store.listSeries({ tags: { host: "h1" } })).map((s) => s.measurement)).toEqual(["disk", "disk", "cpu"]);
    expect(await store.listSeries({ measurement: "disk", tags: { host: "h2" } })).toEqual([
      { key: seriesKey("disk", { host: "h2", path: "/" }, "used_percent"), measurement: "disk", tags: { host: "h2", path: "/" }, field: "used_percent" },
    ]);
    expect(await store.listSeries({ limit: 2 })).toHaveLength(2);
  });
});

describe("retention and rollup", () => {
  it("rolls expiring raw points up, deletes them, and answers from the rollup", async () => {
    let now = 1_700_100_000_000; // a multiple of 5 min
    const clock: Clock = { nowMs: () => now };
    const store = await openStore({ clock, retentionMs: 14 * DAY, rollupStepMs: 5 * MIN, rollupRetentionMs: 365 * DAY });
    const old = now - 20 * DAY;
    const key = seriesKey("mem", { host: "a" }, "used_bytes");
    const pts = Array.from({ length: 10 }, (_, k) => point(old + k * MIN, { used_bytes: k }, { host: "a" }, "mem"));
    pts.push(point(now - 3_600_000, { used_bytes: 100 }, { host: "a" }, "mem"), point(now - 1_800_000, { used_bytes: 200 }, { host: "a" }, "mem"));
    store.write(pts);

    await store.compact(); // "now" from the fake clock
    await store.compact(); // idempotent
    expect(await store.stats()).toMatchObject({ series: 1, points: 2, rollupRows: 2 });

    const q = (aggregate: Aggregate, startMs = old, endMs = old + 10 * MIN, stepMs = 5 * MIN) =>
      store.query({ series: key, startMs, endMs, stepMs, aggregate });
    expect(await q("min")).toEqual([[old, 0], [old + 5 * MIN, 5]]);
    expect(await q("mean")).toEqual([[old, 2], [old + 5 * MIN, 7]]);
    expect(await q("max")).toEqual([[old, 4], [old + 5 * MIN, 9]]);
    expect(await q("last")).toEqual([[old, 4], [old + 5 * MIN, 9]]);
    expect(await q("count")).toEqual([[old, 5], [old + 5 * MIN, 5]]);
    // One query spanning rollup and raw: daily buckets from both sources.
    const daily = await q("sum", old, now, DAY);
    expect(daily.reduce((s, [, v]) => s + v, 0)).toBe(45 + 300);
    expect(daily).toHaveLength(2);

    // A point that arrives late for an already rolled-up bucket is merged, not lost.
    store.write([point(old + 2 * MIN + 1, { used_bytes: -1 }, { host: "a" }, "mem")]);
    await store.compact();
    expect(await q("min")).toEqual([[old, -1], [old + 5 * MIN, 5]]);
    expect(await q("count")).toEqual([[old, 6], [old + 5 * MIN, 5]]);

    now += 360 * DAY; // the old rollup rows pass rollup retention; the recent raw points pass raw retention
    await store.compact();
    expect(await store.stats()).toMatchObject({ points: 0, rollupRows: 2 }); // only the recent points' rollup rows remain
    expect(await q("count")).toEqual([]);
  });
});

/** Spawns the writer fixture and collects the numbers it prints. */
function spawnWriter(dataDir: string, mode: "loop" | "hold"): { child: ChildProcess; state: { queued: number; flushed: number; flushes: number; open: boolean; err: string } } {
  const child = spawn(process.execPath, ["--import", "tsx", writer, dataDir, mode], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const state = { queued: 0, flushed: 0, flushes: 0, open: false, err: "" };
  let buf = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    for (const line of lines) {
      const [what, n] = line.split(" ");
      if (what === "queued") state.queued = Number(n);
      else if (what === "flushed") {
        state.flushed = Number(n);
        state.flushes++;
      }
      else if (what === "open") state.open = true;
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (state.err += chunk.toString()));
  return { child, state };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

describe("processes", () => {
  it("refuses a data dir that another process holds with STORE_LOCKED", async () => {
    const { child, state } = spawnWriter(dir, "hold");
    try {
      await vi.waitFor(() => expect(state.open, state.err).toBe(true), { timeout: 15_000, interval: 50 });
      const err = await openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => 0 } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AnsaiError);
      expect(err).toMatchObject({ code: ErrorCodes.STORE_LOCKED, hint: "another ANSAI is running with this data dir; stop it or set storage.data_dir" });
      expect((err as AnsaiError).message).toContain(path.join(dir, "ansai.duckdb"));
    } finally {
      await killed(child);
    }
    // Free again once the holder is gone.
    await openStore();
  });

  it("refuses a second open in the same process", async () => {
    await openStore();
    await expect(openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => 0 } })).rejects.toMatchObject({ code: ErrorCodes.STORE_LOCKED });
  });

  it("reports STORE_UNAVAILABLE for a file that is not a database", async () => {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(path.join(dir, "ansai.duckdb"), "not a database at all, just text".repeat(200));
    await expect(openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => 0 } })).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
  });

  it("keeps every flushed point through kill -9, three times on the same file", async () => {
    for (let round = 0; round < 3; round++) {
      const { child, state } = spawnWriter(dir, "loop");
      await vi.waitFor(() => expect(state.flushes, state.err).toBeGreaterThan(20), { timeout: 20_000, interval: 20 });
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200)); // land somewhere inside a write or a flush
      await killed(child);
      const { flushed, queued } = state;

      const store = await openEmbeddedStore({ dataDir: dir, log, clock: { nowMs: () => 0 } });
      const { points } = await store.stats();
      await store.close();
      expect(points).toBeGreaterThanOrEqual(flushed);
      expect(points).toBeLessThanOrEqual(queued);
    }
  }, 90_000);
});
