// fill() for GROUP BY time(): the empty buckets of a group, filled per column as InfluxDB fills them.
import type { Fill } from "./ast.js";

export type Cell = number | null;

/**
 * Rows for every bucket from `firstMs` to `lastMs` (ascending, step `intervalMs`), present ones from
 * `present`, the rest as nulls. `fill(none)` keeps only present buckets.
 */
export function denseBuckets(present: ReadonlyMap<number, Cell[]>, firstMs: number, lastMs: number, intervalMs: number, width: number, fill: Fill): Array<[number, Cell[]]> {
  if (fill.kind === "none") return [...present.entries()].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, Cell[]]> = [];
  for (let t = firstMs; t <= lastMs; t += intervalMs) out.push([t, present.get(t) ?? new Array<Cell>(width).fill(null)]);
  return out;
}

/**
 * Fills nulls in place, column by column, in output order (so `previous` follows ORDER BY).
 * `counts` marks count() columns, which InfluxDB fills with 0 under fill(null).
 */
export function applyFill(rows: Array<[number, Cell[]]>, fill: Fill, counts: readonly boolean[]): void {
  for (let col = 0; col < counts.length; col++) {
    if (fill.kind === "null" && counts[col]) fillConstant(rows, col, 0);
    else if (fill.kind === "number") fillConstant(rows, col, fill.value);
    else if (fill.kind === "previous") fillPrevious(rows, col);
    else if (fill.kind === "linear") fillLinear(rows, col);
  }
}

function fillConstant(rows: Array<[number, Cell[]]>, col: number, value: number): void {
  for (const [, cells] of rows) if (cells[col] === null) cells[col] = value;
}

function fillPrevious(rows: Array<[number, Cell[]]>, col: number): void {
  let last: Cell = null;
  for (const [, cells] of rows) {
    const v = cells[col] ?? null;
    if (v === null) cells[col] = last;
    else last = v;
  }
}

/** Straight line between the nearest non-null neighbours by bucket time; edges stay null. */
function fillLinear(rows: Array<[number, Cell[]]>, col: number): void {
  let prev = -1;
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i]?.[1][col] ?? null;
    if (v === null) continue;
    if (prev >= 0 && i - prev > 1) {
      const [t0, c0] = rows[prev] as [number, Cell[]];
      const [t1] = rows[i] as [number, Cell[]];
      const v0 = c0[col] as number;
      for (let j = prev + 1; j < i; j++) {
        const row = rows[j] as [number, Cell[]];
        row[1][col] = ((v - v0) / (t1 - t0)) * (row[0] - t0) + v0;
      }
    }
    prev = i;
  }
}
