// SELECT: plans the statement into store reads, then shapes the rows into InfluxDB's series.
import type { AggregateRow, RawRow, SelectAggregate, SelectReads } from "../../store/select.js";
import type { Expr, SelectStatement } from "./ast.js";
import { applyFill, denseBuckets, type Cell } from "./fill.js";
import { NS_PER_MS } from "./format.js";
import { InfluxQLStatementError, msBounds, planWhere, type PlannedWhere } from "./where.js";

/** One series of a result; `values[i][0]` is a time in ns (bigint) for SELECT results. */
export interface SeriesResult {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface SelectLimits {
  /** Buckets one GROUP BY time() may span (InfluxDB's max-select-buckets); 0: no limit. */
  maxSelectBuckets: number;
  /** Rows a raw SELECT may return in all. */
  maxSelectRows: number;
}

const AGGREGATES = new Set<SelectAggregate>(["mean", "min", "max", "last", "first", "count", "sum"]);
const SELECTORS = new Set<SelectAggregate>(["min", "max", "last", "first"]);
/** InfluxQL functions ANSAI knows of but does not compute. */
const UNSUPPORTED = new Set(["median", "mode", "spread", "stddev", "percentile", "distinct", "integral", "derivative",
  "non_negative_derivative", "difference", "non_negative_difference", "moving_average", "cumulative_sum", "elapsed",
  "top", "bottom", "sample", "holt_winters", "holt_winters_with_fit", "exponential_moving_average"]);

const unwrap = (e: Expr): Expr => (e.type === "paren" ? unwrap(e.expr) : e);

interface Column {
  name: string;
  field: string;
  fn?: SelectAggregate;
}

function planColumns(stmt: SelectStatement): Column[] {
  const columns: Column[] = [];
  for (const f of stmt.fields) {
    const e = unwrap(f.expr);
    if (e.type === "ref") {
      if (e.name.toLowerCase() !== "time") columns.push({ name: f.alias ?? e.name, field: e.name });
      continue;
    }
    if (e.type !== "call") throw new InfluxQLStatementError("ANSAI's /query selects fields and mean|max|min|last|first|count|sum(field) only");
    const fn = e.name as SelectAggregate;
    if (!AGGREGATES.has(fn)) {
      if (UNSUPPORTED.has(e.name)) throw new InfluxQLStatementError(`${e.name}() is not supported by ANSAI's /query: use mean, max, min, last, first, count or sum`);
      throw new InfluxQLStatementError(`undefined function ${e.name}()`);
    }
    const arg = e.args[0] === undefined ? undefined : unwrap(e.args[0]);
    if (e.args.length !== 1) throw new InfluxQLStatementError(`invalid number of arguments for ${fn}, expected 1, got ${e.args.length}`);
    if (arg?.type !== "ref") throw new InfluxQLStatementError(`expected field argument in ${fn}()`);
    columns.push({ name: f.alias ?? fn, field: arg.name, fn });
  }
  const aggregates = columns.filter((c) => c.fn !== undefined).length;
  if (aggregates > 0 && aggregates < columns.length) throw new InfluxQLStatementError("mixing aggregate and non-aggregate queries is not supported");
  if (columns.length === 0) throw new InfluxQLStatementError("at least 1 non-time field must be queried");
  return dedupeNames(columns);
}

/** InfluxDB names repeated columns `mean`, `mean_1`, `mean_2`. */
function dedupeNames(columns: Column[]): Column[] {
  const seen = new Map<string, number>();
  return columns.map((c) => {
    const n = seen.get(c.name);
    seen.set(c.name, (n ?? 0) + 1);
    return n === undefined ? c : { ...c, name: `${c.name}_${n}` };
  });
}

function tagsOf(keys: readonly string[], values: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? ""]));
}

/** Splits rows sorted by group tags into runs of one group. */
function groupRuns<R extends { tags: string[] }>(rows: readonly R[]): R[][] {
  const runs: R[][] = [];
  let key: string | undefined;
  for (const r of rows) {
    const k = JSON.stringify(r.tags);
    if (k !== key) runs.push([]);
    key = k;
    runs[runs.length - 1]?.push(r);
  }
  return runs;
}

const page = <T>(items: T[], limit: number | undefined, offset: number | undefined): T[] =>
  items.slice(offset ?? 0, limit === undefined || limit === 0 ? undefined : (offset ?? 0) + limit);

const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));

/** Runs one SELECT over `reads`; throws InfluxQLStatementError for what InfluxDB would refuse. */
export async function runSelect(stmt: SelectStatement, reads: SelectReads, nowNs: bigint, limits: SelectLimits): Promise<SeriesResult[]> {
  const columns = planColumns(stmt);
  const isAggregate = columns[0]?.fn !== undefined;
  if (stmt.groupBy.intervalNs !== undefined && !isAggregate) throw new InfluxQLStatementError("GROUP BY requires at least one aggregate function");
  const measurement = stmt.source.measurement;
  const fieldRows = await reads.fieldKeys(measurement);
  if (fieldRows.length === 0) return [];
  const where = planWhere(stmt.where, { fields: new Set(fieldRows.map(([, f]) => f)), nowNs });
  const groupTags = stmt.groupBy.allTags
    ? (await reads.tagKeys(measurement, undefined)).map(([, k]) => k)
    : [...new Set(stmt.groupBy.tags)].sort();
  const fields = [...new Set(columns.map((c) => c.field))];
  const series = isAggregate
    ? await runAggregate(stmt, columns, fields, groupTags, where, reads, nowNs, limits)
    : await runRaw(stmt, columns, fields, groupTags, where, reads, limits);
  // InfluxDB walks series in descending tag order too under ORDER BY time DESC.
  if (stmt.descending) series.reverse();
  const named = series.map((s) => ({ name: measurement, ...(groupTags.length > 0 ? { tags: tagsOf(groupTags, s.tags) } : {}), columns: ["time", ...columns.map((c) => c.name)], values: s.values }));
  return page(named, stmt.slimit, stmt.soffset);
}

interface GroupValues {
  tags: string[];
  values: unknown[][];
}

async function runRaw(stmt: SelectStatement, columns: Column[], fields: string[], groupTags: string[], where: PlannedWhere, reads: SelectReads, limits: SelectLimits): Promise<GroupValues[]> {
  const bounds = msBounds(where);
  if (bounds.startMs !== undefined && bounds.endMs !== undefined && bounds.startMs > bounds.endMs) return [];
  const rows = await reads.raw({
    measurement: stmt.source.measurement, fields, where: where.condition, ...bounds, groupTags,
    descending: stmt.descending, limit: stmt.limit || undefined, offset: stmt.offset, maxRows: limits.maxSelectRows,
  });
  const index = columns.map((c) => fields.indexOf(c.field));
  return groupRuns<RawRow>(rows).map((run) => ({
    tags: run[0]?.tags ?? [],
    values: run.map((r) => [BigInt(r.timeMs) * NS_PER_MS, ...index.map((i) => r.values[i] ?? null)]),
  }));
}

async function runAggregate(stmt: SelectStatement, columns: Column[], fields: string[], groupTags: string[], where: PlannedWhere, reads: SelectReads, nowNs: bigint, limits: SelectLimits): Promise<GroupValues[]> {
  const intervalNs = stmt.groupBy.intervalNs;
  // With time(), the range ends now unless the query says otherwise; without a start InfluxDB returns nothing.
  const planned: PlannedWhere = intervalNs === undefined ? where : { ...where, highNs: where.highNs ?? nowNs };
  if (intervalNs !== undefined && planned.lowNs === undefined) return [];
  if (planned.lowNs !== undefined && planned.highNs !== undefined && planned.lowNs > planned.highNs) return [];
  let buckets: { firstMs: number; lastMs: number; intervalMs: number } | undefined;
  if (intervalNs !== undefined) {
    if (intervalNs % NS_PER_MS !== 0n) throw new InfluxQLStatementError("ANSAI's /query needs GROUP BY time() intervals in whole milliseconds");
    const first = floorDiv(planned.lowNs ?? 0n, intervalNs) * intervalNs;
    const last = floorDiv(planned.highNs ?? nowNs, intervalNs) * intervalNs;
    const count = (last - first) / intervalNs + 1n;
    if (limits.maxSelectBuckets > 0 && count > BigInt(limits.maxSelectBuckets)) {
      throw new InfluxQLStatementError(`max-select-buckets limit exceeded: (${count}/${limits.maxSelectBuckets})`);
    }
    buckets = { firstMs: Number(first / NS_PER_MS), lastMs: Number(last / NS_PER_MS), intervalMs: Number(intervalNs / NS_PER_MS) };
  }
  const calls = columns.map((c) => ({ fn: c.fn as SelectAggregate, field: fields.indexOf(c.field) }));
  const rows = await reads.aggregate({
    measurement: stmt.source.measurement, fields, where: planned.condition, ...msBounds(planned), groupTags, calls, intervalMs: buckets?.intervalMs,
  });
  const counts = calls.map((c) => c.fn === "count");
  const single = calls.length === 1 && calls[0] !== undefined && SELECTORS.has(calls[0].fn);
  return groupRuns<AggregateRow>(rows).flatMap((run) => {
    let out: Array<[bigint, Cell[]]>;
    if (buckets === undefined) {
      out = run.map((r) => [single && r.selectedMs !== null ? BigInt(r.selectedMs) * NS_PER_MS : (planned.lowNs ?? 0n), r.values]);
    } else {
      const dense = denseBuckets(new Map(run.map((r) => [r.bucketMs, r.values])), buckets.firstMs, buckets.lastMs, buckets.intervalMs, calls.length, stmt.fill);
      if (stmt.descending) dense.reverse();
      applyFill(dense, stmt.fill, counts);
      out = dense.map(([t, v]) => [BigInt(t) * NS_PER_MS, v]);
    }
    const values = page(out, stmt.limit, stmt.offset).map(([t, v]) => [t, ...v]);
    return values.length === 0 ? [] : [{ tags: run[0]?.tags ?? [], values }];
  });
}
