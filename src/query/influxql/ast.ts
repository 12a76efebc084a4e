// The InfluxQL subset ANSAI serves, as a syntax tree. Times are bigint nanoseconds, as InfluxDB keeps them.

export type BinaryOp = "AND" | "OR" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~" | "+" | "-" | "*" | "/";

export type Expr =
  | { type: "binary"; op: BinaryOp; lhs: Expr; rhs: Expr }
  | { type: "paren"; expr: Expr }
  /** An identifier; `cast` from `"x"::field` / `"x"::tag`. */
  | { type: "ref"; name: string; cast?: "field" | "tag" }
  | { type: "string"; value: string }
  | { type: "number"; value: number }
  | { type: "integer"; value: bigint }
  | { type: "duration"; ns: bigint }
  /** `source` as written between the slashes (with `\/` unescaped); `pos` is its offset in the query. */
  | { type: "regex"; source: string; pos: number }
  | { type: "bool"; value: boolean }
  | { type: "call"; name: string; args: Expr[] };

export interface SelectField {
  expr: Expr;
  alias?: string;
}

export interface Source {
  database?: string;
  retentionPolicy?: string;
  measurement: string;
}

export type Fill =
  | { kind: "null" }
  | { kind: "none" }
  | { kind: "previous" }
  | { kind: "linear" }
  | { kind: "number"; value: number };

export interface GroupBy {
  /** Width of `time(...)` buckets (ns); absent without `time()`. */
  intervalNs?: bigint;
  tags: string[];
  /** `GROUP BY *`: every tag key. */
  allTags: boolean;
}

export interface SelectStatement {
  kind: "select";
  fields: SelectField[];
  source: Source;
  where?: Expr;
  groupBy: GroupBy;
  fill: Fill;
  descending: boolean;
  limit?: number;
  offset?: number;
  slimit?: number;
  soffset?: number;
}

/** `WITH MEASUREMENT =~ /re/`, `WITH KEY = "k"`: the operator and a name or regex. */
export interface NameMatch {
  op: "=" | "!=" | "=~" | "!~";
  /** A name for `=`/`!=`, a regex source for `=~`/`!~`. */
  value: string;
  /** Offset of a regex in the query, for errors. */
  pos?: number;
}

export type ShowStatement =
  | { kind: "showMeasurements"; match?: NameMatch; where?: Expr; limit?: number; offset?: number }
  | { kind: "showTagKeys"; measurement?: string; where?: Expr; limit?: number; offset?: number }
  | { kind: "showTagValues"; measurement?: string; key: NameMatch; where?: Expr; limit?: number; offset?: number }
  | { kind: "showFieldKeys"; measurement?: string; limit?: number; offset?: number }
  | { kind: "showDatabases" }
  | { kind: "showRetentionPolicies"; database?: string };

export type Statement = SelectStatement | ShowStatement;

/** Every regex literal of a statement, so the caller can check them all before running anything. */
export function statementRegexes(s: Statement): Array<{ source: string; pos: number }> {
  const out: Array<{ source: string; pos: number }> = [];
  const walk = (e: Expr | undefined): void => {
    if (e === undefined) return;
    if (e.type === "regex") out.push({ source: e.source, pos: e.pos });
    else if (e.type === "binary") {
      walk(e.lhs);
      walk(e.rhs);
    } else if (e.type === "paren") walk(e.expr);
    else if (e.type === "call") e.args.forEach(walk);
  };
  if ("where" in s) walk(s.where);
  const match = s.kind === "showMeasurements" ? s.match : s.kind === "showTagValues" ? s.key : undefined;
  if (match?.pos !== undefined) out.push({ source: match.value, pos: match.pos });
  return out;
}
