import type { PointColumns } from "../../core/columns.js";
import type { FieldValue, Point } from "../../core/point.js";
import type { LineError, Precision, LineProtocolLimits } from "./line-protocol.js";

/**
 * Parsed line protocol as a worker thread hands it to the main thread: typed arrays (moved, not
 * copied) instead of one object per point, so the main thread only rebuilds the points. A series
 * (measurement + tags) and a field list ("shape") are sent once per worker and then named by id.
 */
export interface ColumnarBatch {
  jobId: number;
  /** The worker forgot every head and shape before this batch: ids start over. */
  reset: boolean;
  /** Heads first used in this batch: id, dedupe key, measurement, then tag keys and values alternating. */
  newHeads: Array<[number, string, string, string[]]>;
  /** Field lists first used in this batch: id, field keys in the order of the points' fields. */
  newShapes: Array<[number, string[]]>;
  count: number;
  headIds: Int32Array<ArrayBuffer>;
  shapeIds: Int32Array<ArrayBuffer>;
  timesMs: Float64Array<ArrayBuffer>;
  /** Every point's field values in order; a non-number value is NaN here and listed in `others`. */
  values: Float64Array<ArrayBuffer>;
  /** Strings and booleans: [index into `values`, value], ascending by index. */
  others: Array<[number, string | boolean]>;
  errors: LineError[];
}

/** One parse asked of a worker. */
export interface ParseJob {
  jobId: number;
  body: Uint8Array;
  precision: Precision;
  defaultTimeMs: number;
  limits: Partial<LineProtocolLimits>;
}

/** A worker's answer: a batch, or the error that stopped the parse. */
export type ParseReply = { ok: true; batch: ColumnarBatch } | { ok: false; jobId: number; message: string };

/** Heads and shapes a worker has sent; mirrored on the main thread by {@link BatchDecoder}. */
export interface BatchEncoder {
  heads: Map<object, number>;
  /** Heads whose tags object is not shared (not cached by the parser), by dedupe key. */
  headsByKey: Map<string, number>;
  shapes: Map<string, number>;
  /** Per head id: the last shape's field keys and id, so a repeated shape is found without a key. */
  lastShape: Array<{ names: string[]; id: number } | undefined>;
  maxEntries: number;
  /** Bumped each time everything is forgotten, so caches keyed on ids (the fast path's) know to start over. */
  generation: number;
  /** A point's values while it is appended. */
  scratch: Float64Array<ArrayBuffer>;
}

export function createBatchEncoder(maxEntries: number): BatchEncoder {
  return { heads: new Map(), headsByKey: new Map(), shapes: new Map(), lastShape: [], maxEntries, generation: 0, scratch: new Float64Array(64) };
}

function headKey(p: Point): string {
  let key = p.measurement;
  for (const k in p.tags) key += `\u0000${k}\u0001${p.tags[k]}`;
  return key;
}

function headId(enc: BatchEncoder, p: Point, batch: ColumnarBatch): number {
  const frozen = Object.isFrozen(p.tags);
  const key = frozen ? undefined : headKey(p);
  const known = key === undefined ? enc.heads.get(p.tags) : enc.headsByKey.get(key);
  if (known !== undefined) return known;
  const id = enc.heads.size + enc.headsByKey.size;
  if (key === undefined) enc.heads.set(p.tags, id);
  else enc.headsByKey.set(key, id);
  const tags: string[] = [];
  for (const k of Object.keys(p.tags)) tags.push(k, p.tags[k] ?? "");
  batch.newHeads.push([id, key ?? headKey(p), p.measurement, tags]);
  return id;
}

/** Whether `fields` lists exactly `names`, in order (names compared by identity first: V8 interns property names). */
function sameShape(fields: Readonly<Record<string, FieldValue>>, names: readonly string[]): boolean {
  let i = 0;
  for (const k in fields) if (names[i++] !== k) return false;
  return i === names.length;
}

function shapeId(enc: BatchEncoder, head: number, fields: Readonly<Record<string, FieldValue>>, batch: ColumnarBatch): number {
  const last = enc.lastShape[head];
  if (last !== undefined && sameShape(fields, last.names)) return last.id;
  const names = Object.keys(fields);
  const key = names.join("\u0000");
  let id = enc.shapes.get(key);
  if (id === undefined) {
    id = enc.shapes.size;
    enc.shapes.set(key, id);
    batch.newShapes.push([id, names]);
  }
  enc.lastShape[head] = { names, id };
  return id;
}

/** A batch being filled point by point; `finish` trims its arrays. */
export interface BatchBuilder {
  batch: ColumnarBatch;
  /** Values written so far. */
  valueCount: number;
}

/** An empty batch for `jobId`, with room for `pointsHint` points (the arrays grow as needed). */
export function startBatch(enc: BatchEncoder, jobId: number, pointsHint: number): BatchBuilder {
  const cap = Math.max(16, pointsHint);
  const batch: ColumnarBatch = {
    jobId,
    reset: false,
    newHeads: [],
    newShapes: [],
    count: 0,
    headIds: new Int32Array(cap),
    shapeIds: new Int32Array(cap),
    timesMs: new Float64Array(cap),
    values: new Float64Array(cap * 8),
    others: [],
    errors: [],
  };
  if (enc.heads.size + enc.headsByKey.size + cap > enc.maxEntries || enc.shapes.size + cap > enc.maxEntries) {
    // Bounded memory: forget everything and tell the main thread to do the same.
    forget(enc);
    batch.reset = true;
  }
  return { batch, valueCount: 0 };
}

function forget(enc: BatchEncoder): void {
  enc.heads.clear();
  enc.headsByKey.clear();
  enc.shapes.clear();
  enc.lastShape.length = 0;
  enc.generation++;
}

function grow<T extends Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(a: T, need: number): T {
  if (need <= a.length) return a;
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  bigger.set(a);
  return bigger;
}

/** Appends one point of a known head and shape; `values` are read from `from` (length = the shape's). */
export function appendColumns(b: BatchBuilder, head: number, shape: number, timeMs: number, from: Float64Array, length: number): void {
  const batch = b.batch;
  const i = batch.count;
  if (i === batch.headIds.length) {
    batch.headIds = grow(batch.headIds, i + 1);
    batch.shapeIds = grow(batch.shapeIds, i + 1);
    batch.timesMs = grow(batch.timesMs, i + 1);
  }
  batch.values = grow(batch.values, b.valueCount + length);
  batch.headIds[i] = head;
  batch.shapeIds[i] = shape;
  batch.timesMs[i] = timeMs;
  for (let j = 0; j < length; j++) batch.values[b.valueCount + j] = from[j] as number;
  b.valueCount += length;
  batch.count = i + 1;
}

/** Appends a parsed point; returns its head id. */
export function appendPoint(enc: BatchEncoder, b: BatchBuilder, p: Point): number {
  const batch = b.batch;
  const h = headId(enc, p, batch);
  const shape = shapeId(enc, h, p.fields, batch);
  let n = 0;
  for (const k in p.fields) {
    const value = p.fields[k];
    if (n === enc.scratch.length) enc.scratch = grow(enc.scratch, n + 1);
    if (typeof value === "number") enc.scratch[n] = value;
    else {
      enc.scratch[n] = Number.NaN;
      batch.others.push([b.valueCount + n, value as string | boolean]);
    }
    n++;
  }
  appendColumns(b, h, shape, p.timeMs, enc.scratch, n);
  return h;
}

/** The batch with its arrays cut to length, ready to be transferred. */
export function finishBatch(b: BatchBuilder): ColumnarBatch {
  const batch = b.batch;
  batch.headIds = batch.headIds.slice(0, batch.count);
  batch.shapeIds = batch.shapeIds.slice(0, batch.count);
  batch.timesMs = batch.timesMs.slice(0, batch.count);
  batch.values = batch.values.slice(0, b.valueCount);
  return batch;
}

interface Shape {
  names: string[];
  /** Every key with a placeholder: a spread copy of it makes a point's fields in one step. */
  template: Record<string, FieldValue>;
  /** A key `__proto__` cannot be assigned like the others. */
  special: boolean;
}

interface Head {
  measurement: string;
  tags: Readonly<Record<string, string>>;
}

/**
 * Rebuilds points from one worker's batches. Heads are shared through `heads` (by dedupe key,
 * across workers) so one series keeps one measurement string and one frozen tags object, which
 * the store, the analyzer and the write route's limiter cache by identity.
 */
export interface BatchDecoder {
  heads: Array<Head | undefined>;
  shapes: Array<Shape | undefined>;
  /** Each shape's field names, as columns name them. */
  fieldNames: Array<readonly string[] | undefined>;
}

export function createBatchDecoder(): BatchDecoder {
  return { heads: [], shapes: [], fieldNames: [] };
}

/** Heads shared by every decoder of one route, by dedupe key; bounded by `maxEntries`. */
export interface SharedHeads {
  byKey: Map<string, Head>;
  maxEntries: number;
}

function setOwn(obj: Record<string, FieldValue>, key: string, value: FieldValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function learn(dec: BatchDecoder, shared: SharedHeads, batch: ColumnarBatch): void {
  if (batch.reset) {
    // New arrays, not emptied ones: columns handed out earlier keep naming the old entries.
    dec.heads = [];
    dec.shapes = [];
    dec.fieldNames = [];
  }
  for (const [id, key, measurement, flat] of batch.newHeads) {
    let head = shared.byKey.get(key);
    if (head === undefined) {
      const tags: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) {
        Object.defineProperty(tags, flat[i] as string, { value: flat[i + 1] as string, enumerable: true, writable: false, configurable: false });
      }
      head = { measurement, tags: Object.freeze(tags) };
      if (shared.byKey.size >= shared.maxEntries) shared.byKey.clear();
      shared.byKey.set(key, head);
    }
    dec.heads[id] = head;
  }
  for (const [id, names] of batch.newShapes) {
    const template: Record<string, FieldValue> = {};
    // NaN: a double placeholder, so storing the values keeps the fields' double representation.
    for (const name of names) setOwn(template, name, Number.NaN);
    dec.shapes[id] = { names, template: { ...template }, special: names.includes("__proto__") };
    dec.fieldNames[id] = names;
  }
}

/**
 * A batch as {@link PointColumns}, without a point rebuilt. Entries of the decoder's tables are
 * never changed once set (a reset makes new tables), so the columns stay valid after later batches.
 */
export function decodeColumns(dec: BatchDecoder, shared: SharedHeads, batch: ColumnarBatch): PointColumns {
  learn(dec, shared, batch);
  const { count, headIds, shapeIds, timesMs, values, others } = batch;
  return { count, heads: dec.heads, fieldNames: dec.fieldNames, headIds, shapeIds, timesMs, values, others };
}

/** Learns a batch's new heads and shapes only (a batch nobody waits for). */
export function learnBatch(dec: BatchDecoder, shared: SharedHeads, batch: ColumnarBatch): void {
  learn(dec, shared, batch);
}

/** The points of a batch, in the order the worker parsed them. */
export function decodeBatch(dec: BatchDecoder, shared: SharedHeads, batch: ColumnarBatch): Point[] {
  learn(dec, shared, batch);
  const points = new Array<Point>(batch.count);
  const { values, others } = batch;
  let v = 0;
  let other = 0;
  let nextOther = others.length > 0 ? (others[0] as [number, string | boolean])[0] : -1;
  for (let i = 0; i < batch.count; i++) {
    const head = dec.heads[batch.headIds[i] as number] as Head;
    const shape = dec.shapes[batch.shapeIds[i] as number] as Shape;
    const fields: Record<string, FieldValue> = { ...shape.template };
    const names = shape.names;
    for (let j = 0; j < names.length; j++, v++) {
      let value: FieldValue = values[v] as number;
      if (v === nextOther) {
        value = (others[other] as [number, string | boolean])[1];
        other++;
        nextOther = other < others.length ? (others[other] as [number, string | boolean])[0] : -1;
      }
      if (shape.special) setOwn(fields, names[j] as string, value);
      else fields[names[j] as string] = value;
    }
    points[i] = { measurement: head.measurement, tags: head.tags, fields, timeMs: batch.timesMs[i] as number };
  }
  return points;
}
