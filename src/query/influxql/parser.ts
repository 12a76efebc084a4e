// Recursive-descent parser for ANSAI's InfluxQL subset; errors are worded and placed as InfluxDB words them.
import type { BinaryOp, Expr, Fill, GroupBy, NameMatch, SelectField, SelectStatement, ShowStatement, Source, Statement } from "./ast.js";
import { Lexer, parseDurationNs, type Token } from "./lexer.js";

/** A query InfluxDB would refuse to parse; `message` is the full text InfluxDB returns. */
export class InfluxQLParseError extends Error {
  constructor(
    readonly detail: string,
    readonly pos: number | undefined,
    text: string,
  ) {
    super(`error parsing query: ${detail}${pos === undefined ? "" : ` at ${lineChar(text, pos)}`}`);
    this.name = "InfluxQLParseError";
  }
}

/** InfluxDB's "line L, char C" (1-based); at the end of the text InfluxDB reports one char further. */
function lineChar(text: string, pos: number): string {
  const before = text.slice(0, Math.min(pos, text.length));
  const line = before.split("\n").length;
  const char = pos - (before.lastIndexOf("\n") + 1) + 1 + (pos >= text.length ? 1 : 0);
  return `line ${line}, char ${char}`;
}

const LITERALS_EXPECTED = ["identifier", "string", "number", "bool"];
const COMPARISON: Record<string, BinaryOp> = { "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "=~": "=~", "!~": "!~" };
/** Binding strength of binary operators, as InfluxQL ranks them. */
const PRECEDENCE: Partial<Record<BinaryOp, number>> = { OR: 1, AND: 2, "=": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "=~": 4, "!~": 4, "+": 5, "-": 5, "*": 6, "/": 6 };

class Parser {
  private readonly lex: Lexer;

  constructor(private readonly text: string) {
    this.lex = new Lexer(text);
  }

  fail(found: Token, expected: readonly string[]): never {
    throw new InfluxQLParseError(`found ${found.text}, expected ${expected.join(", ")}`, found.pos, this.text);
  }

  private isKeyword(t: Token, word: string): boolean {
    return t.kind === "keyword" && t.value === word;
  }

  /** Consumes the next token when it is `word`. */
  private acceptKeyword(word: string): boolean {
    if (!this.isKeyword(this.lex.peek(), word)) return false;
    this.lex.next();
    return true;
  }

  private expectKeyword(word: string, ...alternatives: string[]): string {
    const t = this.lex.next();
    if (t.kind === "keyword" && [word, ...alternatives].includes(t.value)) return t.value;
    return this.fail(t, [word, ...alternatives]);
  }

  private expectIdent(): string {
    const t = this.lex.next();
    if (t.kind === "ident") return t.value;
    return this.fail(t, ["identifier"]);
  }

  private expectKind(kind: Token["kind"], shown: string): Token {
    const t = this.lex.next();
    if (t.kind !== kind) this.fail(t, [shown]);
    return t;
  }

  private expectInteger(): number {
    const t = this.lex.next();
    if (t.kind !== "integer") return this.fail(t, ["integer"]);
    return Number(t.value);
  }

  parseQuery(): Statement[] {
    const statements: Statement[] = [];
    for (;;) {
      const t = this.lex.peek();
      if (t.kind === "eof") return statements;
      if (t.kind === "semicolon") {
        this.lex.next();
        continue;
      }
      statements.push(this.parseStatement());
      const end = this.lex.next();
      if (end.kind !== "semicolon" && end.kind !== "eof") this.fail(end, [";"]);
      if (end.kind === "eof") return statements;
    }
  }

  private parseStatement(): Statement {
    const t = this.lex.next();
    if (this.isKeyword(t, "SELECT")) return this.parseSelect();
    if (this.isKeyword(t, "SHOW")) return this.parseShow();
    return this.fail(t, ["SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE", "ALTER", "SET", "KILL"]);
  }

  private parseSelect(): SelectStatement {
    const fields = this.parseFields();
    this.expectKeyword("FROM");
    const source = this.parseSource();
    const where = this.parseOptionalWhere();
    const groupBy = this.parseGroupBy();
    const fill = this.parseFill();
    const descending = this.parseOrderBy();
    const stmt: SelectStatement = { kind: "select", fields, source, where, groupBy, fill, descending };
    if (this.acceptKeyword("LIMIT")) stmt.limit = this.expectInteger();
    if (this.acceptKeyword("OFFSET")) stmt.offset = this.expectInteger();
    if (this.acceptKeyword("SLIMIT")) stmt.slimit = this.expectInteger();
    if (this.acceptKeyword("SOFFSET")) stmt.soffset = this.expectInteger();
    return stmt;
  }

  private parseFields(): SelectField[] {
    const fields: SelectField[] = [];
    for (;;) {
      const expr = this.parseExpr();
      const field: SelectField = { expr };
      if (this.acceptKeyword("AS")) field.alias = this.expectIdent();
      fields.push(field);
      if (this.lex.peek().kind !== "comma") return fields;
      this.lex.next();
    }
  }

  /** `m`, `rp.m`, `db.rp.m` or `db..m`. */
  private parseSource(): Source {
    const parts = [this.expectIdent()];
    while (this.lex.peek().kind === "dot" && parts.length < 3) {
      this.lex.next();
      if (this.lex.peek().kind === "dot" && parts.length === 1) {
        parts.push("");
        continue;
      }
      parts.push(this.expectIdent());
    }
    const measurement = parts[parts.length - 1] ?? "";
    if (parts.length === 3) return { database: parts[0], retentionPolicy: parts[1] || undefined, measurement };
    if (parts.length === 2) return { retentionPolicy: parts[0], measurement };
    return { measurement };
  }

  private parseOptionalWhere(): Expr | undefined {
    return this.acceptKeyword("WHERE") ? this.parseExpr() : undefined;
  }

  private parseGroupBy(): GroupBy {
    const groupBy: GroupBy = { tags: [], allTags: false };
    if (!this.acceptKeyword("GROUP")) return groupBy;
    this.expectKeyword("BY");
    for (;;) {
      this.parseDimension(groupBy);
      if (this.lex.peek().kind !== "comma") return groupBy;
      this.lex.next();
    }
  }

  private parseDimension(groupBy: GroupBy): void {
    const t = this.lex.next();
    if (t.kind === "op" && t.value === "*") {
      groupBy.allTags = true;
      return;
    }
    if (t.kind !== "ident") this.fail(t, ["identifier"]);
    const isCall = this.lex.peek().kind === "lparen";
    if (!isCall || t.value.toLowerCase() !== "time" || t.text.startsWith('"')) {
      if (isCall) throw new InfluxQLParseError(`only time() calls allowed in dimensions`, undefined, this.text);
      groupBy.tags.push(t.value);
      return;
    }
    this.lex.next();
    const arg = this.lex.next();
    if (arg.kind !== "duration") throw new InfluxQLParseError("time dimension must have duration argument", undefined, this.text);
    const intervalNs = parseDurationNs(arg.value) ?? 0n;
    if (intervalNs <= 0n) throw new InfluxQLParseError("time dimension must have a positive interval", undefined, this.text);
    if (this.lex.peek().kind === "comma") {
      const comma = this.lex.next();
      throw new InfluxQLParseError("time() offsets are not supported by ANSAI's /query; drop the offset", comma.pos, this.text);
    }
    this.expectKind("rparen", ")");
    if (groupBy.intervalNs !== undefined) throw new InfluxQLParseError("multiple time dimensions not allowed", undefined, this.text);
    groupBy.intervalNs = intervalNs;
  }

  private parseFill(): Fill {
    const t = this.lex.peek();
    if (t.kind !== "ident" || t.value.toLowerCase() !== "fill") return { kind: "null" };
    this.lex.next();
    this.expectKind("lparen", "(");
    const arg = this.lex.next();
    let fill: Fill | undefined;
    const word = arg.kind === "ident" ? arg.value.toLowerCase() : "";
    if (word === "null" || word === "none" || word === "previous" || word === "linear") fill = { kind: word };
    else if (arg.kind === "number" || arg.kind === "integer") fill = { kind: "number", value: Number(arg.value) };
    else if (arg.kind === "op" && arg.value === "-") {
      const n = this.lex.next();
      if (n.kind === "number" || n.kind === "integer") fill = { kind: "number", value: -Number(n.value) };
    }
    if (fill === undefined) throw new InfluxQLParseError("expected number argument in fill()", undefined, this.text);
    this.expectKind("rparen", ")");
    return fill;
  }

  /** `ORDER BY time [ASC|DESC]`; true when descending. */
  private parseOrderBy(): boolean {
    if (!this.acceptKeyword("ORDER")) return false;
    this.expectKeyword("BY");
    const t = this.lex.next();
    if (t.kind === "keyword" && (t.value === "ASC" || t.value === "DESC")) return t.value === "DESC";
    if (t.kind !== "ident") this.fail(t, ["identifier", "ASC", "DESC"]);
    if (t.value.toLowerCase() !== "time") throw new InfluxQLParseError("only ORDER BY time supported at this time", undefined, this.text);
    const dir = this.lex.peek();
    if (this.isKeyword(dir, "ASC") || this.isKeyword(dir, "DESC")) {
      this.lex.next();
      return dir.value === "DESC";
    }
    return false;
  }

  private parseShow(): ShowStatement {
    const t = this.lex.next();
    const word = t.kind === "keyword" ? t.value : "";
    if (word === "MEASUREMENTS") return this.parseShowMeasurements();
    if (word === "DATABASES") return { kind: "showDatabases" };
    if (word === "RETENTION") {
      this.expectKeyword("POLICIES");
      return { kind: "showRetentionPolicies", database: this.acceptKeyword("ON") ? this.expectIdent() : undefined };
    }
    if (word === "FIELD") {
      this.expectKeyword("KEYS");
      this.skipOn();
      const measurement = this.parseOptionalFrom();
      return { kind: "showFieldKeys", measurement, ...this.parseLimitOffset() };
    }
    if (word === "TAG") return this.parseShowTag();
    return this.fail(t, ["CONTINUOUS", "DATABASES", "DIAGNOSTICS", "FIELD", "GRANTS", "MEASUREMENT", "MEASUREMENTS", "QUERIES", "RETENTION", "SERIES", "SHARD", "SHARDS", "STATS", "SUBSCRIPTIONS", "TAG", "USERS"]);
  }

  /** `ON db` names the database; there is one store, so it is read and ignored. */
  private skipOn(): void {
    if (this.acceptKeyword("ON")) this.expectIdent();
  }

  private parseOptionalFrom(): string | undefined {
    return this.acceptKeyword("FROM") ? this.parseSource().measurement : undefined;
  }

  private parseLimitOffset(): { limit?: number; offset?: number } {
    const out: { limit?: number; offset?: number } = {};
    if (this.acceptKeyword("LIMIT")) out.limit = this.expectInteger();
    if (this.acceptKeyword("OFFSET")) out.offset = this.expectInteger();
    return out;
  }

  private parseShowMeasurements(): ShowStatement {
    this.skipOn();
    let match: NameMatch | undefined;
    if (this.acceptKeyword("WITH")) {
      this.expectKeyword("MEASUREMENT");
      match = this.parseNameMatch();
    }
    const where = this.parseOptionalWhere();
    return { kind: "showMeasurements", match, where, ...this.parseLimitOffset() };
  }

  private parseShowTag(): ShowStatement {
    const which = this.expectKeyword("KEYS", "VALUES");
    this.skipOn();
    const measurement = this.parseOptionalFrom();
    if (which === "KEYS") {
      const where = this.parseOptionalWhere();
      return { kind: "showTagKeys", measurement, where, ...this.parseLimitOffset() };
    }
    this.expectKeyword("WITH");
    this.expectKeyword("KEY");
    const key = this.parseNameMatch();
    const where = this.parseOptionalWhere();
    return { kind: "showTagValues", measurement, key, where, ...this.parseLimitOffset() };
  }

  /** `= name`, `!= name`, `=~ /re/` or `!~ /re/`. */
  private parseNameMatch(): NameMatch {
    const op = this.lex.next();
    if (op.kind !== "op" || !["=", "!=", "=~", "!~"].includes(op.value)) this.fail(op, ["=", "!=", "=~", "!~"]);
    const matchOp = op.value as NameMatch["op"];
    if (matchOp === "=" || matchOp === "!=") return { op: matchOp, value: this.expectIdent() };
    const re = this.parseRegex();
    return { op: matchOp, value: re.source, pos: re.pos };
  }

  private parseRegex(): { source: string; pos: number } {
    const re = this.lex.nextRegex();
    if (re === undefined) return this.fail(this.lex.peek(), ["regex"]);
    if (!re.end) throw new InfluxQLParseError("bad regex: ", re.pos, this.text);
    return re;
  }

  /** Precedence climbing over InfluxQL's binary operators. */
  parseExpr(minPrecedence = 1): Expr {
    let lhs = this.parseUnary();
    for (;;) {
      const t = this.lex.peek();
      const op = this.binaryOp(t);
      const precedence = op === undefined ? undefined : PRECEDENCE[op];
      if (op === undefined || precedence === undefined || precedence < minPrecedence) return lhs;
      this.lex.next();
      if (op === "=~" || op === "!~") {
        const re = this.parseRegex();
        lhs = { type: "binary", op, lhs, rhs: { type: "regex", source: re.source, pos: re.pos } };
        continue;
      }
      const rhs = this.parseExpr(precedence + 1);
      lhs = { type: "binary", op, lhs, rhs };
    }
  }

  private binaryOp(t: Token): BinaryOp | undefined {
    if (t.kind === "keyword" && (t.value === "AND" || t.value === "OR")) return t.value;
    if (t.kind !== "op") return undefined;
    if (t.value === "+" || t.value === "-" || t.value === "*" || t.value === "/") return t.value;
    return COMPARISON[t.value];
  }

  private parseUnary(): Expr {
    const t = this.lex.next();
    switch (t.kind) {
      case "lparen": {
        const expr = this.parseExpr();
        this.expectKind("rparen", ")");
        return { type: "paren", expr };
      }
      case "ident":
        return this.lex.peek().kind === "lparen" ? this.parseCall(t.value) : this.parseRef(t.value);
      case "string":
        return { type: "string", value: t.value };
      case "number":
        return { type: "number", value: Number(t.value) };
      case "integer":
        return { type: "integer", value: BigInt(t.value) };
      case "duration":
        return { type: "duration", ns: parseDurationNs(t.value) ?? 0n };
      case "keyword":
        if (t.value === "TRUE" || t.value === "FALSE") return { type: "bool", value: t.value === "TRUE" };
        break;
      case "op":
        if (t.value === "-") return this.negate(t);
        break;
      default:
        break;
    }
    return this.fail(t, LITERALS_EXPECTED);
  }

  private negate(minus: Token): Expr {
    const t = this.lex.next();
    if (t.kind === "number") return { type: "number", value: -Number(t.value) };
    if (t.kind === "integer") return { type: "integer", value: -BigInt(t.value) };
    if (t.kind === "duration") return { type: "duration", ns: -(parseDurationNs(t.value) ?? 0n) };
    return this.fail(t.kind === "eof" ? minus : t, ["number", "duration"]);
  }

  private parseRef(name: string): Expr {
    if (this.lex.peek().kind !== "doublecolon") return { type: "ref", name };
    this.lex.next();
    const cast = this.lex.next();
    const word = cast.kind === "ident" || cast.kind === "keyword" ? cast.value.toLowerCase() : "";
    if (word === "field" || word === "tag") return { type: "ref", name, cast: word };
    if (["float", "integer", "string", "boolean"].includes(word)) return { type: "ref", name };
    return this.fail(cast, ["float", "integer", "string", "boolean", "field", "tag"]);
  }

  private parseCall(name: string): Expr {
    this.lex.next();
    const args: Expr[] = [];
    if (this.lex.peek().kind === "rparen") {
      this.lex.next();
      return { type: "call", name: name.toLowerCase(), args };
    }
    for (;;) {
      args.push(this.parseExpr());
      const t = this.lex.next();
      if (t.kind === "rparen") return { type: "call", name: name.toLowerCase(), args };
      if (t.kind !== "comma") this.fail(t, [",", ")"]);
    }
  }
}

/**
 * Parses one or more `;`-separated statements of ANSAI's InfluxQL subset.
 * @throws InfluxQLParseError worded as InfluxDB's, e.g. `error parsing query: found FRM, expected FROM at line 1, char 20`.
 */
export function parseInfluxQL(text: string): Statement[] {
  return new Parser(text).parseQuery();
}
