// Runs parsed InfluxQL over the store and shapes InfluxDB 1.x's `results` array.
import { AnsaiError, ErrorCodes } from "../../core/errors.js";
import type { SelectReads } from "../../store/select.js";
import { statementRegexes, type Statement } from "./ast.js";
import { formatTime, type TimeFormat } from "./format.js";
import { InfluxQLParseError } from "./parser.js";
import { runSelect, type SelectLimits, type SeriesResult } from "./run-select.js";
import { runShow } from "./show.js";
import { InfluxQLStatementError } from "./where.js";

export interface ExecuteOptions extends SelectLimits {
  reads: SelectReads;
  /** The query's now() (ns); one instant for every statement of a request, as in InfluxDB. */
  nowNs: bigint;
  /** The database ANSAI answers as. */
  database: string;
  /** The request's `db` parameter. */
  requestDatabase?: string;
  timeFormat: TimeFormat;
}

/** One entry of InfluxDB's `results`: series omitted when empty, `error` when the statement failed. */
export interface StatementResult {
  statement_id: number;
  series?: SeriesResult[];
  error?: string;
}

/**
 * Compiles every regex with the engine that runs it (RE2), before anything runs, as InfluxDB
 * rejects a bad regex when parsing.
 * @throws InfluxQLParseError for the first bad regex, placed at its opening slash.
 */
export async function checkRegexes(statements: readonly Statement[], text: string, reads: SelectReads): Promise<void> {
  for (const s of statements) {
    for (const re of statementRegexes(s)) {
      const err = await reads.regexError(re.source);
      if (err !== undefined) throw new InfluxQLParseError(`error parsing regexp: ${err}: \`${re.source}\``, re.pos, text);
    }
  }
}

function formatSeries(series: SeriesResult[], isSelect: boolean, format: TimeFormat): SeriesResult[] {
  if (!isSelect) return series;
  return series.map((s) => ({ ...s, values: s.values.map(([t, ...rest]) => [formatTime(t as bigint, format), ...rest]) }));
}

async function runStatement(s: Statement, opts: ExecuteOptions): Promise<SeriesResult[]> {
  if (s.kind === "select") return runSelect(s, opts.reads, opts.nowNs, opts);
  return runShow(s, opts);
}

/**
 * Runs the statements in order; a failing statement gets an `error` and the rest are not run,
 * as in InfluxDB. Errors other than the user's (the store failing) are thrown.
 */
export async function executeStatements(statements: readonly Statement[], opts: ExecuteOptions): Promise<StatementResult[]> {
  const results: StatementResult[] = [];
  for (const [i, s] of statements.entries()) {
    try {
      const series = formatSeries(await runStatement(s, opts), s.kind === "select", opts.timeFormat);
      results.push(series.length === 0 ? { statement_id: i } : { statement_id: i, series });
    } catch (err) {
      if (!(err instanceof InfluxQLStatementError) && !(err instanceof AnsaiError && err.code === ErrorCodes.QUERY_INVALID)) throw err;
      results.push({ statement_id: i, error: err.message });
      break;
    }
  }
  return results;
}
