import type { FieldValue, Point } from "./point.js";

/** A measurement and its tags, shared by every point of one series (the tags object is frozen). */
export interface ColumnHead {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Points as parallel arrays instead of one object per point, as the line-protocol parse workers
 * hand them over: the store and the analyzer read them without a point being rebuilt. Point `i`
 * is `heads[headIds[i]]` at `timesMs[i]` with the fields `fieldNames[shapeIds[i]]`, whose values
 * follow the previous point's in `values`. `heads` and `fieldNames` may hold entries no point of
 * this batch names; an entry, once set, never changes, so consumers may cache by identity.
 */
export interface PointColumns {
  readonly count: number;
  readonly heads: ReadonlyArray<ColumnHead | undefined>;
  readonly fieldNames: ReadonlyArray<readonly string[] | undefined>;
  readonly headIds: Int32Array;
  readonly shapeIds: Int32Array;
  /** Unix time in milliseconds, per point. */
  readonly timesMs: Float64Array;
  /** Every field value in point order (length: the sum of the points' field counts); NaN where `others` holds the value. */
  readonly values: Float64Array;
  /** String and boolean values: [index into `values`, value], ascending by index. */
  readonly others: ReadonlyArray<readonly [number, string | boolean]>;
}

/** Something that takes points as columns (the embedded store, the analyzer). */
export interface ColumnSink {
  writeColumns(columns: PointColumns): void;
}

/** Whether `x` also takes columns. */
export function takesColumns<T extends object>(x: T): x is T & ColumnSink {
  return typeof (x as Partial<ColumnSink>).writeColumns === "function";
}

/** The points the columns hold, in order (for sinks that take points only). */
export function columnsToPoints(c: PointColumns): Point[] {
  const points = new Array<Point>(c.count);
  let v = 0;
  let other = 0;
  for (let i = 0; i < c.count; i++) {
    const head = c.heads[c.headIds[i] as number] as ColumnHead;
    const names = c.fieldNames[c.shapeIds[i] as number] as readonly string[];
    const fields: Record<string, FieldValue> = {};
    for (const name of names) {
      let value: FieldValue = c.values[v] as number;
      const o = c.others[other];
      if (o !== undefined && o[0] === v) {
        value = o[1];
        other++;
      }
      // defineProperty: a field named "__proto__" stays a field.
      Object.defineProperty(fields, name, { value, enumerable: true, writable: true, configurable: true });
      v++;
    }
    points[i] = { measurement: head.measurement, tags: head.tags, fields, timeMs: c.timesMs[i] as number };
  }
  return points;
}

/** The points whose `keep` entry is non-zero, as new columns (`c` itself when every point is kept). */
export function selectColumns(c: PointColumns, keep: Uint8Array): PointColumns {
  let count = 0;
  let valueCount = 0;
  for (let i = 0; i < c.count; i++) {
    if (keep[i] === 0) continue;
    count++;
    valueCount += (c.fieldNames[c.shapeIds[i] as number] as readonly string[]).length;
  }
  if (count === c.count) return c;
  const headIds = new Int32Array(count);
  const shapeIds = new Int32Array(count);
  const timesMs = new Float64Array(count);
  const values = new Float64Array(valueCount);
  const others: Array<[number, string | boolean]> = [];
  let from = 0;
  let to = 0;
  let n = 0;
  let other = 0;
  for (let i = 0; i < c.count; i++) {
    const width = (c.fieldNames[c.shapeIds[i] as number] as readonly string[]).length;
    const end = from + width;
    if (keep[i] !== 0) {
      headIds[n] = c.headIds[i] as number;
      shapeIds[n] = c.shapeIds[i] as number;
      timesMs[n] = c.timesMs[i] as number;
      n++;
    }
    for (; from < end; from++) {
      let o = c.others[other];
      while (o !== undefined && o[0] < from) o = c.others[++other];
      if (keep[i] === 0) continue;
      if (o !== undefined && o[0] === from) others.push([to, o[1]]);
      values[to++] = c.values[from] as number;
    }
  }
  return { count, heads: c.heads, fieldNames: c.fieldNames, headIds, shapeIds, timesMs, values, others };
}
