import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PointColumns } from "../core/columns.js";
import { AnsaiError } from "../core/errors.js";
import { parseSeriesKey } from "../core/point.js";
import { readFileBatches, type FileReadOptions } from "./backtest-input-file.js";
import { isColumns, type InputFormat, type SampleBatch } from "./backtest-input.js";

const DISK = parseSeriesKey("disk,host=h1,path=/data used_percent")!;
const T = 1_700_000_000_000;
/** The calling thread's batch size: the worker reads the same pieces, so the batches match one for one. */
const SAME_CHUNKS = 1 << 16;

/** `rows` samples at 10 s steps, as the brief's disk series: a slow fill with a little noise. */
function diskCsv(rows: number, lineAt?: (i: number) => string | undefined): string {
  const lines = ["timestamp,value"];
  for (let i = 0; i < rows; i++) {
    const t = T + i * 10_000;
    lines.push(lineAt?.(i) ?? `${t},${(20 + (2 * ((i * 10_000) % 2_592_000_000)) / 86_400_000 + ((i * 7919) % 13) / 100).toFixed(3)}`);
  }
  return `${lines.join("\n")}\n`;
}

interface Read {
  batches: SampleBatch[];
  formats: InputFormat[];
  error: unknown;
}

/** Everything a reader gives until its end or its error. */
async function readAll(file: string, opts: Partial<FileReadOptions>): Promise<Read> {
  const read: Read = { batches: [], formats: [], error: undefined };
  try {
    const options: FileReadOptions = { name: "in.csv", series: DISK, onFormat: (f) => read.formats.push(f), ...opts };
    for await (const batch of readFileBatches(file, options)) read.batches.push(batch);
  } catch (err) {
    read.error = err;
  }
  return read;
}

const inProcess = (file: string, opts: Partial<FileReadOptions> = {}): Promise<Read> => readAll(file, { workerMinBytes: Infinity, ...opts });
const inWorker = (file: string, opts: Partial<FileReadOptions> = {}): Promise<Read> => readAll(file, { workerMinBytes: 0, workerChunkBytes: SAME_CHUNKS, workerBatchesAhead: 2, ...opts });

function columns(read: Read): PointColumns[] {
  return read.batches.map((b) => {
    if (!isColumns(b)) throw new Error("expected columns");
    return b;
  });
}

/** Rows of all batches, in order. */
function rows(read: Read): Array<[number, number]> {
  return columns(read).flatMap((c) => Array.from(c.timesMs, (t, i): [number, number] => [t, c.values[i] as number]));
}

/** The error as the CLI shows it, or undefined. */
function errorOf(read: Read): { code: string; message: string; hint: string } | undefined {
  if (read.error === undefined) return undefined;
  if (!(read.error instanceof AnsaiError)) throw read.error;
  return { code: read.error.code, message: read.error.message, hint: read.error.hint };
}

/** Keeps this thread busy for `ms`, as a replay does. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

/** Threads of this process (a worker is one). */
function threads(): number {
  return readdirSync("/proc/self/task").length;
}

describe("readFileBatches, CSV in a worker thread", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ansai-backtest-input-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("gives the batches the calling thread gives: same columns, shared tables, same format", async () => {
    const f = file("disk.csv", diskCsv(60_000));
    const here = await inProcess(f);
    const there = await inWorker(f);
    expect(there.error).toBeUndefined();
    expect(there.formats).toEqual(["csv"]);
    expect(here.batches.length).toBeGreaterThan(10);
    expect(there.batches.length).toBe(here.batches.length);
    const [a, b] = [columns(here), columns(there)];
    for (let i = 0; i < a.length; i++) {
      const [x, y] = [a[i] as PointColumns, b[i] as PointColumns];
      expect({ ...y, heads: [...y.heads], fieldNames: [...y.fieldNames] }).toEqual({ ...x, heads: [...x.heads], fieldNames: [...x.fieldNames] });
      // One tables object for the whole input: the analyzer caches by identity.
      expect(y.heads).toBe(b[0]?.heads);
      expect(y.fieldNames).toBe(b[0]?.fieldNames);
      expect(y.headIds).toBe(y.shapeIds);
    }
    expect(Object.isFrozen(b[0]?.heads[0]?.tags)).toBe(true);
  });

  it("gives the same rows in bigger pieces, with bytes read growing to the file's size", async () => {
    const text = diskCsv(60_000);
    const f = file("big-pieces.csv", text);
    const bytes: number[] = [];
    const there = await inWorker(f, { workerChunkBytes: 1 << 20, onBytesRead: (n) => bytes.push(n) });
    expect(there.batches.length).toBe(2);
    expect(rows(there)).toEqual(rows(await inProcess(f)));
    expect(bytes.at(-1)).toBe(Buffer.byteLength(text));
    expect(bytes).toEqual([...bytes].sort((x, y) => x - y));
  });

  it("reads CRLF, a BOM, quotes, blanks and dates as the calling thread does", async () => {
    const f = file(
      "odd.csv",
      '\uFEFF"Timestamp", Value\r\n' + diskCsv(20_000, (i) => (i % 3 === 0 ? `"${new Date(T + i * 10_000).toISOString()}" , "${i / 4}"\r\n` : undefined)).slice("timestamp,value".length),
    );
    const here = await inProcess(f);
    const there = await inWorker(f);
    expect(there.error).toBeUndefined();
    expect(rows(there)).toHaveLength(20_000);
    expect(rows(there)).toEqual(rows(here));
  });

  const bad = (i: number): string | undefined => (i === 30_000 ? "1700300000000,full" : undefined);
  const cases: Array<[string, string, Partial<FileReadOptions>]> = [
    ["a bad row in the middle", diskCsv(50_000, bad), {}],
    ["a missing header", "1700000000,5\n" + diskCsv(10).slice(16), {}],
    ["a CSV without --series", diskCsv(10), { series: undefined }],
    ["a switch of epoch unit", diskCsv(5000, (i) => (i === 4000 ? "1700040000,3" : undefined)), {}],
  ];
  it.each(cases)("throws the calling thread's error after its batches: %s", async (name, text, opts) => {
    const f = file(`${name.replace(/\W+/g, "-")}.csv`, text);
    const here = await inProcess(f, opts);
    const there = await inWorker(f, opts);
    expect(errorOf(here)).toBeDefined();
    expect(errorOf(there)).toEqual(errorOf(here));
    expect(there.formats).toEqual(here.formats);
    expect(rows(there)).toEqual(rows(here));
  });

  it("names the bad row's line, with the rows before it delivered", async () => {
    const f = file("bad-row.csv", diskCsv(50_000, bad));
    const there = await inWorker(f);
    expect(errorOf(there)?.message).toBe('in.csv:30002: expected a number as the value, got "full"');
    expect(rows(there).length).toBeGreaterThan(25_000);
    expect(rows(there).length).toBeLessThan(30_000);
  });

  it("reports an unreadable input as the calling thread does", async () => {
    const d = path.join(dir, "a-directory");
    mkdirSync(d);
    const there = await inWorker(d);
    expect(errorOf(there)?.message).toMatch(/^cannot read --input in\.csv: EISDIR/);
    expect(errorOf(there)).toEqual(errorOf(await inProcess(d)));
  });

  it("reads line protocol and empty files on the calling thread, as before", async () => {
    let lp = "";
    for (let i = 0; i < 3000; i++) lp += `disk,host=h1,path=/data used_percent=${i} ${(T + i * 10_000) * 1e6}\n`;
    const f = file("disk.lp", lp);
    const here = await inProcess(f);
    const there = await inWorker(f);
    expect(there.formats).toEqual(["line-protocol"]);
    expect(there.batches).toEqual(here.batches);
    expect(there.batches.flat()).toHaveLength(3000);
    const empty = await inWorker(file("empty.csv", "\n\n"));
    expect(empty).toEqual({ batches: [], formats: [], error: undefined });
  });

  it("lets the event loop turn between batches even when the worker is ahead (timers, progress)", async () => {
    const f = file("ahead.csv", diskCsv(40_000));
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turnsAtBatch: number[] = [];
    for await (const batch of readFileBatches(f, { name: "in.csv", series: DISK, workerMinBytes: 0, workerChunkBytes: SAME_CHUNKS })) {
      turnsAtBatch.push(turns);
      expect(isColumns(batch)).toBe(true);
      busy(10); // a slow consumer: the worker has the next batches waiting
    }
    ticking = false;
    expect(turnsAtBatch.length).toBeGreaterThan(10);
    for (let i = 1; i < turnsAtBatch.length; i++) expect(turnsAtBatch[i]).toBeGreaterThan(turnsAtBatch[i - 1] as number);
  });

  it("stops the worker when the consumer stops early", async () => {
    const f = file("long.csv", diskCsv(100_000));
    await inProcess(f); // the thread pool's threads exist before counting
    const before = threads();
    let seen = 0;
    for await (const batch of readFileBatches(f, { name: "in.csv", series: DISK, workerMinBytes: 0, workerChunkBytes: SAME_CHUNKS })) {
      seen += isColumns(batch) ? batch.count : batch.length;
      expect(threads()).toBeGreaterThan(before);
      break;
    }
    expect(seen).toBeGreaterThan(0);
    expect(threads()).toBe(before);
  });
});
