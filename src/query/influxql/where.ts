// WHERE clauses: time bounds come out of the top-level ANDs; the rest becomes a store Condition.
import type { Condition } from "../../store/select.js";
import type { Expr } from "./ast.js";
import { NS_PER_MS, parseTimeString } from "./format.js";

/** A statement InfluxDB would parse but refuse to run; the message is what the client sees. */
export class InfluxQLStatementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InfluxQLStatementError";
  }
}

export interface PlannedWhere {
  condition?: Condition;
  /** Inclusive bounds (ns). */
  lowNs?: bigint;
  highNs?: bigint;
}

export interface WhereContext {
  /** Field keys of the measurement: other names are tags. */
  fields: ReadonlySet<string>;
  nowNs: bigint;
}

const unwrap = (e: Expr): Expr => (e.type === "paren" ? unwrap(e.expr) : e);

const and = (a: Condition | undefined, b: Condition | undefined): Condition | undefined =>
  a === undefined ? b : b === undefined ? a : { kind: "and", left: a, right: b };

const maxOf = (a: bigint | undefined, b: bigint | undefined): bigint | undefined => (a === undefined ? b : b === undefined ? a : a > b ? a : b);
const minOf = (a: bigint | undefined, b: bigint | undefined): bigint | undefined => (a === undefined ? b : b === undefined ? a : a < b ? a : b);

const isTime = (e: Expr): boolean => e.type === "ref" && e.name.toLowerCase() === "time";

/** Swaps the sides of a comparison: `5 < x` is `x > 5`. */
const FLIP: Record<string, string> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!=" };

/** Evaluates the time side of `time <op> <expr>`: now(), durations, integers (ns), time strings, + and -. */
export function evalTimeNs(e: Expr, nowNs: bigint): bigint {
  const x = unwrap(e);
  switch (x.type) {
    case "call":
      if (x.name === "now" && x.args.length === 0) return nowNs;
      break;
    case "duration":
      return x.ns;
    case "integer":
      return x.value;
    case "number":
      return BigInt(Math.trunc(x.value));
    case "string": {
      const ns = parseTimeString(x.value);
      if (ns !== undefined) return ns;
      throw new InfluxQLStatementError(`invalid operation: time and *influxql.StringLiteral are not compatible`);
    }
    case "binary":
      if (x.op === "+") return evalTimeNs(x.lhs, nowNs) + evalTimeNs(x.rhs, nowNs);
      if (x.op === "-") return evalTimeNs(x.lhs, nowNs) - evalTimeNs(x.rhs, nowNs);
      break;
    default:
      break;
  }
  throw new InfluxQLStatementError("invalid time expression: use now(), a duration, an integer or a time string");
}

function timeBound(op: string, valueNs: bigint): PlannedWhere {
  switch (op) {
    case ">":
      return { lowNs: valueNs + 1n };
    case ">=":
      return { lowNs: valueNs };
    case "<":
      return { highNs: valueNs - 1n };
    case "<=":
      return { highNs: valueNs };
    case "=":
      return { lowNs: valueNs, highNs: valueNs };
    default:
      throw new InfluxQLStatementError(`invalid time comparison operator: ${op}`);
  }
}

function literalNumber(e: Expr): number | undefined {
  if (e.type === "number") return e.value;
  if (e.type === "integer") return Number(e.value);
  if (e.type === "bool") return e.value ? 1 : 0;
  return undefined;
}

function comparison(op: string, ref: Extract<Expr, { type: "ref" }>, value: Expr, ctx: WhereContext): Condition {
  const isField = ref.cast === "field" || (ref.cast !== "tag" && ctx.fields.has(ref.name));
  if (!isField) {
    if (value.type === "regex" && (op === "=~" || op === "!~")) return { kind: "tag", key: ref.name, op, value: value.source };
    if (value.type === "string" && (op === "=" || op === "!=")) return { kind: "tag", key: ref.name, op, value: value.value };
    // A tag holds strings only: no number, and no ordering, ever matches.
    return { kind: "const", value: false };
  }
  const n = literalNumber(value);
  if (n === undefined || op === "=~" || op === "!~") return { kind: "const", value: false };
  return { kind: "field", field: ref.name, op: op as "=" | "!=" | "<" | "<=" | ">" | ">=", value: n };
}

/** Plans a WHERE clause; throws InfluxQLStatementError for what it cannot run. */
export function planWhere(expr: Expr | undefined, ctx: WhereContext): PlannedWhere {
  if (expr === undefined) return {};
  const e = unwrap(expr);
  if (e.type === "bool") return { condition: { kind: "const", value: e.value } };
  if (e.type !== "binary") throw new InfluxQLStatementError("invalid condition: expected a comparison");
  if (e.op === "AND") {
    const l = planWhere(e.lhs, ctx);
    const r = planWhere(e.rhs, ctx);
    return { condition: and(l.condition, r.condition), lowNs: maxOf(l.lowNs, r.lowNs), highNs: minOf(l.highNs, r.highNs) };
  }
  if (e.op === "OR") {
    const l = planWhere(e.lhs, ctx);
    const r = planWhere(e.rhs, ctx);
    if ([l.lowNs, l.highNs, r.lowNs, r.highNs].some((b) => b !== undefined)) throw new InfluxQLStatementError("invalid time condition: time cannot be combined with OR");
    return { condition: { kind: "or", left: l.condition ?? { kind: "const", value: true }, right: r.condition ?? { kind: "const", value: true } } };
  }
  const lhs = unwrap(e.lhs);
  const rhs = e.rhs.type === "regex" ? e.rhs : unwrap(e.rhs);
  if (isTime(lhs)) return timeBound(e.op, evalTimeNs(rhs, ctx.nowNs));
  if (isTime(rhs)) return timeBound(FLIP[e.op] ?? e.op, evalTimeNs(lhs, ctx.nowNs));
  if (lhs.type === "ref" && rhs.type !== "ref") return { condition: comparison(e.op, lhs, rhs, ctx) };
  if (rhs.type === "ref" && lhs.type !== "ref" && lhs.type !== "regex") return { condition: comparison(FLIP[e.op] ?? e.op, rhs, lhs, ctx) };
  throw new InfluxQLStatementError(`invalid condition: ${e.op} needs a tag or field on one side and a value on the other`);
}

/** ns bounds to the store's inclusive ms bounds (points are whole milliseconds). */
export function msBounds(w: PlannedWhere): { startMs?: number; endMs?: number } {
  const ceilMs = (ns: bigint): bigint => (ns >= 0n ? (ns + NS_PER_MS - 1n) / NS_PER_MS : ns / NS_PER_MS);
  const floorMs = (ns: bigint): bigint => (ns >= 0n ? ns / NS_PER_MS : (ns - NS_PER_MS + 1n) / NS_PER_MS);
  return {
    startMs: w.lowNs === undefined ? undefined : Number(ceilMs(w.lowNs)),
    endMs: w.highNs === undefined ? undefined : Number(floorMs(w.highNs)),
  };
}
