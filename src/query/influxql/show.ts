// SHOW statements: the catalogue Grafana reads for template variables and the query editor.
import type { Condition, NameFilter, SelectReads } from "../../store/select.js";
import type { Expr, NameMatch, ShowStatement } from "./ast.js";
import type { SeriesResult } from "./run-select.js";
import { InfluxQLStatementError, planWhere } from "./where.js";

export interface ShowContext {
  reads: SelectReads;
  nowNs: bigint;
  /** The database ANSAI answers as (SHOW DATABASES). */
  database: string;
  /** The `db` parameter of the request, if any. */
  requestDatabase?: string;
}

const page = <T>(items: T[], limit: number | undefined, offset: number | undefined): T[] =>
  items.slice(offset ?? 0, limit === undefined || limit === 0 ? undefined : (offset ?? 0) + limit);

const nameFilter = (m: NameMatch | undefined): NameFilter => (m === undefined ? undefined : { op: m.op, value: m.value });

/** Groups `[measurement, ...rest]` rows (sorted by measurement) into one series per measurement. */
function perMeasurement(rows: ReadonlyArray<readonly string[]>, columns: string[], limit?: number, offset?: number): SeriesResult[] {
  const byName = new Map<string, unknown[][]>();
  for (const [m = "", ...rest] of rows) {
    const values = byName.get(m) ?? [];
    values.push(rest);
    byName.set(m, values);
  }
  return [...byName].map(([name, values]) => ({ name, columns, values: page(values, limit, offset) })).filter((s) => s.values.length > 0);
}

/** Tag-only WHERE of SHOW statements (every name is a tag there). */
function tagCondition(s: { where?: Expr }, nowNs: bigint): Condition | undefined {
  return planWhere(s.where, { fields: new Set(), nowNs }).condition;
}

/** Runs one SHOW statement. */
export async function runShow(s: ShowStatement, ctx: ShowContext): Promise<SeriesResult[]> {
  switch (s.kind) {
    case "showDatabases":
      return [{ name: "databases", columns: ["name"], values: [[ctx.database]] }];
    case "showRetentionPolicies":
      if ((s.database ?? ctx.requestDatabase) === undefined) throw new InfluxQLStatementError("database name required");
      return [{ columns: ["name", "duration", "shardGroupDuration", "replicaN", "default"], values: [["autogen", "0s", "168h0m0s", 1, true]] }];
    case "showMeasurements": {
      const names = await ctx.reads.measurements(nameFilter(s.match), tagCondition(s, ctx.nowNs));
      const values = page(names.map((n) => [n]), s.limit, s.offset);
      return values.length === 0 ? [] : [{ name: "measurements", columns: ["name"], values }];
    }
    case "showTagKeys":
      return perMeasurement(await ctx.reads.tagKeys(s.measurement, tagCondition(s, ctx.nowNs)), ["tagKey"], s.limit, s.offset);
    case "showTagValues":
      return perMeasurement(await ctx.reads.tagValues(s.measurement, nameFilter(s.key), tagCondition(s, ctx.nowNs)), ["key", "value"], s.limit, s.offset);
    case "showFieldKeys": {
      const rows = (await ctx.reads.fieldKeys(s.measurement)).map(([m, f]) => [m, f, "float"]);
      return perMeasurement(rows, ["fieldKey", "fieldType"], s.limit, s.offset);
    }
  }
}
