// SQL for InfluxQL-shaped reads of the embedded store: series chosen by measurement, tags and fields,
// points filtered by time and field values, aggregated per group of tags and time bucket.
// Every value from a query travels as a prepared parameter; only names made here enter the SQL text.
import { BIGINT, DOUBLE, VARCHAR, type DuckDBType } from "@duckdb/node-api";

export type TagOp = "=" | "!=" | "=~" | "!~";
export type FieldOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** A WHERE condition on tags (a missing tag reads as "") and on field values of the same point. */
export type Condition =
  | { kind: "and" | "or"; left: Condition; right: Condition }
  | { kind: "tag"; key: string; op: TagOp; value: string }
  | { kind: "field"; field: string; op: FieldOp; value: number }
  | { kind: "const"; value: boolean };

export type SelectAggregate = "mean" | "min" | "max" | "last" | "first" | "count" | "sum";

export interface SelectSpec {
  measurement: string;
  /** Fields whose values are returned, in column order. */
  fields: readonly string[];
  where?: Condition;
  /** Inclusive time bounds (ms); absent: unbounded. */
  startMs?: number;
  endMs?: number;
  /** Tag keys to group by; each row carries their values ("" when missing) in this order. */
  groupTags: readonly string[];
}

export interface AggregateSpec extends SelectSpec {
  /** One output column per call; `field` indexes `fields`. */
  calls: ReadonlyArray<{ fn: SelectAggregate; field: number }>;
  /** Bucket width (ms); buckets start at multiples of it since the epoch. Absent: one bucket. */
  intervalMs?: number;
}

export interface RawSpec extends SelectSpec {
  descending: boolean;
  /** Rows per group after `offset`. */
  limit?: number;
  offset?: number;
  /** More rows than this in all fail the query rather than fill memory. */
  maxRows: number;
}

export interface AggregateRow {
  tags: string[];
  /** Bucket start (ms), 0 without an interval. */
  bucketMs: number;
  values: Array<number | null>;
  /** Time of the point picked by the first call when it is a selector (first, last, min, max). */
  selectedMs: number | null;
}

export interface RawRow {
  tags: string[];
  timeMs: number;
  values: Array<number | null>;
}

/** SQL text with its named parameters and their DuckDB types. */
export interface Sql {
  text: string;
  values: Record<string, string | number | bigint>;
  types: Record<string, DuckDBType>;
}

/** Collects parameters and hands back their placeholders. */
class Params {
  readonly values: Record<string, string | number | bigint> = {};
  readonly types: Record<string, DuckDBType> = {};
  private n = 0;

  add(value: string | number | bigint, type: DuckDBType): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    this.types[name] = type;
    return `$${name}`;
  }
  text(v: string): string {
    return this.add(v, VARCHAR);
  }
  int(v: number): string {
    return this.add(BigInt(Math.trunc(v)), BIGINT);
  }
  double(v: number): string {
    return this.add(v, DOUBLE);
  }
}

/** JSON pointer to a tag in the series' `tags` JSON (RFC 6901 escapes). */
const tagPointer = (key: string): string => `/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;

/** The series key without its field: one per tag set, whatever order the tags were written in. */
const TAGSET_SQL = String.raw`regexp_extract(key, '^((?:\\.|[^\\ ])*) ', 1)`;

function isTagOnly(c: Condition): boolean {
  if (c.kind === "field") return false;
  if (c.kind === "and" || c.kind === "or") return isTagOnly(c.left) && isTagOnly(c.right);
  return true;
}

function conditionTags(c: Condition | undefined, out: Set<string>): Set<string> {
  if (c === undefined) return out;
  if (c.kind === "tag") out.add(c.key);
  if (c.kind === "and" || c.kind === "or") {
    conditionTags(c.left, out);
    conditionTags(c.right, out);
  }
  return out;
}

function conditionFields(c: Condition | undefined, out: string[]): string[] {
  if (c === undefined) return out;
  if (c.kind === "field" && !out.includes(c.field)) out.push(c.field);
  if (c.kind === "and" || c.kind === "or") {
    conditionFields(c.left, out);
    conditionFields(c.right, out);
  }
  return out;
}

/** Splits top-level AND terms into those on tags only (decided per series) and the rest (per point). */
function splitConjuncts(c: Condition | undefined): { series: Condition[]; rows: Condition[] } {
  const out = { series: [] as Condition[], rows: [] as Condition[] };
  const walk = (x: Condition): void => {
    if (x.kind === "and") {
      walk(x.left);
      walk(x.right);
    } else (isTagOnly(x) ? out.series : out.rows).push(x);
  };
  if (c !== undefined) walk(c);
  return out;
}

interface Names {
  tag: (key: string) => string;
  field: (field: string) => string;
}

function conditionSql(c: Condition, p: Params, names: Names): string {
  switch (c.kind) {
    case "and":
    case "or":
      return `(${conditionSql(c.left, p, names)} ${c.kind.toUpperCase()} ${conditionSql(c.right, p, names)})`;
    case "const":
      return c.value ? "TRUE" : "FALSE";
    case "tag": {
      const col = names.tag(c.key);
      if (c.op === "=~" || c.op === "!~") return `(${c.op === "!~" ? "NOT " : ""}regexp_matches(${col}, ${p.text(c.value)}))`;
      return `(${col} ${c.op} ${p.text(c.value)})`;
    }
    case "field":
      return `(${names.field(c.field)} ${c.op} ${p.double(c.value)})`;
  }
}

interface SeriesPlan {
  /** CTE `s(id, fi, tset, g0.., t0..)` of the matching series. */
  cte: string;
  groupCols: string[];
  /** Fields read: the spec's, then those only the condition needs. */
  fields: string[];
  rowCondition: Condition[];
  names: Names;
}

/** The series CTE: `fi` is the field's index in `fields`, `g<i>` the group tag values, `t<i>` the condition's tags. */
function seriesPlan(spec: SelectSpec, p: Params): SeriesPlan {
  const { series, rows } = splitConjuncts(spec.where);
  const fields = [...spec.fields];
  for (const c of rows) conditionFields(c, fields);
  const condTags = [...conditionTags(spec.where, new Set())];
  const tagCol = new Map(condTags.map((k, i) => [k, `t${i}`]));
  const fieldCol = new Map(fields.map((f, i) => [f, `v${i}`]));
  const names: Names = { tag: (k) => tagCol.get(k) ?? "''", field: (f) => fieldCol.get(f) ?? "NULL" };
  const extract = (key: string): string => `coalesce(json_extract_string(tags, ${p.text(tagPointer(key))}), '')`;
  const fieldCase = fields.map((f, i) => `WHEN ${p.text(f)} THEN ${i}`).join(" ");
  const groupCols = spec.groupTags.map((_, i) => `g${i}`);
  const cols = [
    "id",
    `CASE field ${fieldCase} END AS fi`,
    `${TAGSET_SQL} AS tset`,
    ...spec.groupTags.map((k, i) => `${extract(k)} AS g${i}`),
    ...condTags.map((k, i) => `${extract(k)} AS t${i}`),
  ];
  const seriesWhere = series.map((c) => conditionSql(c, p, names)).join(" AND ") || "TRUE";
  const cte = `s0 AS (SELECT ${cols.join(", ")} FROM series WHERE measurement = ${p.text(spec.measurement)} AND field IN (${fields.map((f) => p.text(f)).join(", ")})),
    s AS (SELECT * FROM s0 WHERE ${seriesWhere})`;
  return { cte, groupCols, fields, rowCondition: rows, names };
}

function timeWhere(spec: SelectSpec, p: Params, col: string): string {
  const parts: string[] = [];
  if (spec.startMs !== undefined) parts.push(`${col} >= ${p.int(spec.startMs)}`);
  if (spec.endMs !== undefined) parts.push(`${col} <= ${p.int(spec.endMs)}`);
  return parts.join(" AND ") || "TRUE";
}

/**
 * Points of the chosen series, one row per tag set and time with a column per field (`v<i>`), keeping
 * rows that pass the per-point condition. Only built when a condition reads field values.
 */
function pivotSql(plan: SeriesPlan, spec: SelectSpec, p: Params): string {
  const tagCols = ["tset", ...plan.groupCols, ...[...new Set(plan.rowCondition.flatMap((c) => [...conditionTags(c, new Set())]))].map(plan.names.tag)];
  const values = plan.fields.map((_, i) => `max(CASE WHEN s.fi = ${i} THEN pt.value END) AS v${i}`);
  const keep = plan.rowCondition.map((c) => conditionSql(c, p, plan.names)).join(" AND ") || "TRUE";
  return `pv AS (SELECT ${tagCols.map((c) => `s.${c}`).join(", ")}, pt.ts, ${values.join(", ")}
      FROM points pt JOIN s ON pt.series_id = s.id WHERE ${timeWhere(spec, p, "pt.ts")} GROUP BY ALL),
    r AS (SELECT * FROM pv WHERE ${keep})`;
}

/** Per-call SQL over `src(fi, t, mn, mx, s, c, l, lt)`; `FILTER` picks the call's field. */
function callSql(fn: SelectAggregate, field: number): string {
  const only = `FILTER (WHERE fi = ${field})`;
  switch (fn) {
    case "mean":
      return `sum(s) ${only} / sum(c) ${only}`;
    case "min":
      return `min(mn) ${only}`;
    case "max":
      return `max(mx) ${only}`;
    case "sum":
      return `sum(s) ${only}`;
    case "count":
      return `CAST(sum(c) ${only} AS DOUBLE)`;
    case "last":
      return `last(l ORDER BY lt, l) ${only}`;
    case "first":
      return `first(l ORDER BY t, l DESC) ${only}`;
  }
}

/** When the point a selector picked was taken; ties as InfluxDB breaks them. */
function selectedTimeSql(fn: SelectAggregate, field: number): string {
  const only = `FILTER (WHERE fi = ${field})`;
  switch (fn) {
    case "last":
      return `last(lt ORDER BY lt, l) ${only}`;
    case "first":
      return `first(t ORDER BY t, l DESC) ${only}`;
    case "min":
      return `first(t ORDER BY mn, t) ${only}`;
    case "max":
      return `first(t ORDER BY mx DESC, t) ${only}`;
    default:
      return "NULL";
  }
}

/**
 * Aggregation per group of tags and time bucket, over the raw points of all series in a group (the
 * mean of points, not of series). Without a per-point condition, rollup rows of older data join in.
 */
export function aggregateSql(spec: AggregateSpec, rollupStepMs: number): Sql {
  const p = new Params();
  const plan = seriesPlan(spec, p);
  let source: string;
  if (plan.rowCondition.length === 0) {
    source = `src AS (
        SELECT s.fi, s.tset, ${plan.groupCols.map((g) => `s.${g}, `).join("")}pt.ts AS t, pt.value AS mn, pt.value AS mx, pt.value AS s, 1::BIGINT AS c, pt.value AS l, pt.ts AS lt
          FROM points pt JOIN s ON pt.series_id = s.id WHERE ${timeWhere(spec, p, "pt.ts")}
        UNION ALL
        SELECT s.fi, s.tset, ${plan.groupCols.map((g) => `s.${g}, `).join("")}${spec.startMs === undefined ? "r.bucket_ms" : `greatest(r.bucket_ms, ${p.int(spec.startMs)})`}, r.min, r.max, r.sum, r.count, r.last, r.last_ms
          FROM rollup r JOIN s ON r.series_id = s.id
          WHERE ${spec.startMs === undefined ? "TRUE" : `r.bucket_ms > ${p.int(spec.startMs - rollupStepMs)}`} AND ${spec.endMs === undefined ? "TRUE" : `r.bucket_ms <= ${p.int(spec.endMs)}`})`;
  } else {
    const unpivot = spec.fields.map((_, i) => `SELECT ${i} AS fi, tset, ${plan.groupCols.map((g) => `${g}, `).join("")}ts AS t, v${i} AS mn, v${i} AS mx, v${i} AS s, 1::BIGINT AS c, v${i} AS l, ts AS lt FROM r WHERE v${i} IS NOT NULL`);
    source = `${pivotSql(plan, spec, p)}, src AS (${unpivot.join(" UNION ALL ")})`;
  }
  const bucket = spec.intervalMs === undefined ? "0::BIGINT" : `t - ((t % ${p.int(spec.intervalMs)}) + ${p.int(spec.intervalMs)}) % ${p.int(spec.intervalMs)}`;
  const first = spec.calls[0];
  const selected = spec.calls.length === 1 && first !== undefined ? selectedTimeSql(first.fn, first.field) : "NULL";
  const aggregates = spec.calls.map((c) => callSql(c.fn, c.field));
  const groupBy = [...plan.groupCols, "b"];
  const text = `WITH ${plan.cte}, ${source}
    SELECT ${[...plan.groupCols, `${bucket} AS b`, ...aggregates, selected].join(", ")}
    FROM src GROUP BY ${groupBy.map((_, i) => i + 1).join(", ")} ORDER BY ${groupBy.map((_, i) => i + 1).join(", ")}`;
  return { text, values: p.values, types: p.types };
}

/** Raw points, one row per tag set and time with a value per field; rows with no selected value dropped. */
export function rawSql(spec: RawSpec): Sql {
  const p = new Params();
  const plan = seriesPlan(spec, p);
  const selected = spec.fields.map((_, i) => `v${i}`);
  const dir = spec.descending ? "DESC" : "ASC";
  const partition = plan.groupCols.length > 0 ? `PARTITION BY ${plan.groupCols.join(", ")} ` : "";
  const offset = spec.offset ?? 0;
  const window = spec.limit === undefined && offset === 0 ? "" :
    `QUALIFY row_number() OVER (${partition}ORDER BY ts ${dir}, tset ${dir}) BETWEEN ${p.int(offset + 1)} AND ${p.int(spec.limit === undefined ? Number.MAX_SAFE_INTEGER : offset + spec.limit)}`;
  const text = `WITH ${plan.cte}, ${pivotSql(plan, spec, p)}
    SELECT ${[...plan.groupCols, "ts", ...selected].join(", ")} FROM r
    WHERE ${selected.map((v) => `${v} IS NOT NULL`).join(" OR ")}
    ${window}
    ORDER BY ${[...plan.groupCols, `ts ${dir}`, `tset ${dir}`].join(", ")}
    LIMIT ${p.int(spec.maxRows + 1)}`;
  return { text, values: p.values, types: p.types };
}

/** Tag matches usable in SHOW TAG VALUES ... WHERE: tags only, decided per series. */
function seriesConditionSql(where: Condition | undefined, p: Params, tagsCol = "tags"): string {
  if (where === undefined) return "TRUE";
  const names: Names = { tag: (k) => `coalesce(json_extract_string(${tagsCol}, ${p.text(tagPointer(k))}), '')`, field: () => "NULL" };
  return conditionSql(where, p, names);
}

export type NameFilter = { op: TagOp; value: string } | undefined;

function nameFilterSql(col: string, f: NameFilter, p: Params): string {
  if (f === undefined) return "TRUE";
  return conditionSql({ kind: "tag", key: "", op: f.op, value: f.value }, p, { tag: () => col, field: () => "NULL" });
}

/** Distinct measurement names matching `match`, sorted. */
export function measurementsSql(match: NameFilter, where: Condition | undefined): Sql {
  const p = new Params();
  const text = `SELECT DISTINCT measurement FROM series WHERE ${nameFilterSql("measurement", match, p)} AND ${seriesConditionSql(where, p)} ORDER BY 1`;
  return { text, values: p.values, types: p.types };
}

/** `(measurement, tag key)` pairs, sorted. */
export function tagKeysSql(measurement: string | undefined, where: Condition | undefined): Sql {
  const p = new Params();
  const m = measurement === undefined ? "TRUE" : `measurement = ${p.text(measurement)}`;
  const text = `SELECT DISTINCT measurement, unnest(json_keys(tags)) AS k FROM series WHERE ${m} AND ${seriesConditionSql(where, p)} ORDER BY 1, 2`;
  return { text, values: p.values, types: p.types };
}

/** `(measurement, key, value)` for tag keys matching `key`, over series matching `where`, sorted. */
export function tagValuesSql(measurement: string | undefined, key: NameFilter, where: Condition | undefined): Sql {
  const p = new Params();
  const m = measurement === undefined ? "TRUE" : `measurement = ${p.text(measurement)}`;
  const text = `WITH k AS (SELECT measurement, tags, unnest(json_keys(tags)) AS k FROM series WHERE ${m} AND ${seriesConditionSql(where, p)})
    SELECT DISTINCT measurement, k, json_extract_string(tags, '/' || replace(replace(k, '~', '~0'), '/', '~1')) AS v
    FROM k WHERE ${nameFilterSql("k", key, p)} ORDER BY 1, 2, 3`;
  return { text, values: p.values, types: p.types };
}

/** `(measurement, field)` pairs, sorted. */
export function fieldKeysSql(measurement: string | undefined): Sql {
  const p = new Params();
  const m = measurement === undefined ? "TRUE" : `measurement = ${p.text(measurement)}`;
  return { text: `SELECT DISTINCT measurement, field FROM series WHERE ${m} ORDER BY 1, 2`, values: p.values, types: p.types };
}

/** Checks a regex with the engine that will run it (RE2); returns its error text, or undefined. */
export function regexCheckSql(source: string): Sql {
  const p = new Params();
  return { text: `SELECT regexp_matches('', ${p.text(source)})`, values: p.values, types: p.types };
}


/** What the InfluxQL `/query` endpoint reads from a store. */
export interface SelectReads {
  /** Aggregates per group and bucket; rows sorted by group tags, then bucket. */
  aggregate(spec: AggregateSpec): Promise<AggregateRow[]>;
  /** Raw rows sorted by group tags, then time (and tag set); throws past `spec.maxRows`. */
  raw(spec: RawSpec): Promise<RawRow[]>;
  measurements(match: NameFilter, where: Condition | undefined): Promise<string[]>;
  /** `[measurement, tagKey]`, sorted. */
  tagKeys(measurement: string | undefined, where: Condition | undefined): Promise<Array<[string, string]>>;
  /** `[measurement, key, value]`, sorted. */
  tagValues(measurement: string | undefined, key: NameFilter, where: Condition | undefined): Promise<Array<[string, string, string]>>;
  /** `[measurement, field]`, sorted. */
  fieldKeys(measurement: string | undefined): Promise<Array<[string, string]>>;
  /** The RE2 error for `source`, or undefined when it compiles. */
  regexError(source: string): Promise<string | undefined>;
}
