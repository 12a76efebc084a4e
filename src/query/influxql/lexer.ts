// A hand-written InfluxQL scanner: tokens with their offsets, regexes scanned on the parser's request.

export type TokenKind =
  | "eof"
  | "illegal"
  | "badstring"
  | "ident"
  | "keyword"
  | "string"
  | "number"
  | "integer"
  | "duration"
  | "op"
  | "lparen"
  | "rparen"
  | "comma"
  | "semicolon"
  | "dot"
  | "doublecolon";

export interface Token {
  kind: TokenKind;
  /** Identifier or string value, keyword in upper case, operator text, or the number's text. */
  value: string;
  /** Text as written, for "found X" in errors. */
  text: string;
  /** Offset of the token's first character in the query. */
  pos: number;
}

/** Keywords the subset needs, plus InfluxQL's others so that they are not taken as names. */
const KEYWORDS = new Set([
  "ALL", "ALTER", "ANY", "AS", "ASC", "BEGIN", "BY", "CREATE", "CONTINUOUS", "DATABASE", "DATABASES", "DEFAULT",
  "DELETE", "DESC", "DESTINATIONS", "DIAGNOSTICS", "DISTINCT", "DROP", "DURATION", "END", "EVERY", "EXPLAIN",
  "FIELD", "FOR", "FROM", "GRANT", "GRANTS", "GROUP", "GROUPS", "IN", "INF", "INSERT", "INTO", "KEY", "KEYS",
  "KILL", "LIMIT", "MEASUREMENT", "MEASUREMENTS", "NAME", "OFFSET", "ON", "ORDER", "PASSWORD", "POLICY",
  "POLICIES", "PRIVILEGES", "QUERIES", "QUERY", "READ", "REPLICATION", "RESAMPLE", "RETENTION", "REVOKE",
  "SELECT", "SERIES", "SET", "SHARD", "SHARDS", "SLIMIT", "SOFFSET", "STATS", "SUBSCRIPTION", "SUBSCRIPTIONS",
  "TAG", "TO", "USER", "USERS", "VALUES", "WHERE", "WITH", "WRITE", "AND", "OR", "TRUE", "FALSE", "SHOW",
]);

/** Duration units in nanoseconds, longest spelling first so "ms" wins over "m". */
const UNITS: ReadonlyArray<[string, bigint]> = [
  ["ns", 1n], ["ms", 1_000_000n], ["us", 1000n], ["u", 1000n], ["µ", 1000n], ["s", 1_000_000_000n],
  ["m", 60_000_000_000n], ["h", 3_600_000_000_000n], ["d", 86_400_000_000_000n], ["w", 604_800_000_000_000n],
];

const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";
const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isIdentStart = (c: string): boolean => /[A-Za-z_]/.test(c);
const isIdentChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);

/** Parses an InfluxQL duration literal ("10s", "1h30m") into nanoseconds, or undefined. */
export function parseDurationNs(text: string): bigint | undefined {
  let total = 0n;
  let i = 0;
  if (text === "") return undefined;
  while (i < text.length) {
    let j = i;
    while (j < text.length && isDigit(text[j] ?? "")) j++;
    if (j === i) return undefined;
    const unit = UNITS.find(([u]) => text.startsWith(u, j));
    if (unit === undefined) return undefined;
    total += BigInt(text.slice(i, j)) * unit[1];
    i = j + unit[0].length;
  }
  return total;
}

/** A cursor over the query text. */
export class Lexer {
  private offset = 0;

  constructor(readonly text: string) {}

  /** Offset where the next token would start. */
  get position(): number {
    return this.offset;
  }

  private char(at = this.offset): string {
    return this.text[at] ?? "";
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      while (isSpace(this.char())) this.offset++;
      if (this.text.startsWith("--", this.offset)) {
        while (this.offset < this.text.length && this.char() !== "\n") this.offset++;
        continue;
      }
      if (this.text.startsWith("/*", this.offset)) {
        const end = this.text.indexOf("*/", this.offset + 2);
        this.offset = end < 0 ? this.text.length : end + 2;
        continue;
      }
      return;
    }
  }

  private token(kind: TokenKind, start: number, value = this.text.slice(start, this.offset)): Token {
    return { kind, value, text: kind === "string" || kind === "badstring" ? value : this.text.slice(start, this.offset), pos: start };
  }

  /** The next token; never throws (bad input becomes an `illegal` or `badstring` token). */
  next(): Token {
    this.skipSpaceAndComments();
    const start = this.offset;
    const c = this.char();
    if (c === "") return { kind: "eof", value: "", text: "EOF", pos: this.text.length };
    if (isIdentStart(c)) return this.scanIdent(start);
    if (c === '"') return this.scanQuoted(start, '"', "ident");
    if (c === "'") return this.scanQuoted(start, "'", "string");
    if (isDigit(c) || (c === "." && isDigit(this.char(start + 1)))) return this.scanNumber(start);
    this.offset++;
    const two = c + this.char();
    if (["!=", "<>", "<=", ">=", "=~", "!~"].includes(two)) {
      this.offset++;
      return this.token("op", start, two === "<>" ? "!=" : two);
    }
    if (two === "::") {
      this.offset++;
      return this.token("doublecolon", start);
    }
    const single: Record<string, TokenKind> = { "(": "lparen", ")": "rparen", ",": "comma", ";": "semicolon", ".": "dot" };
    const kind = single[c];
    if (kind !== undefined) return this.token(kind, start);
    if ("=<>+-*/%".includes(c)) return this.token("op", start);
    if (c === "$") while (isIdentChar(this.char())) this.offset++;
    return this.token("illegal", start);
  }

  /** Reads the next token without consuming it. */
  peek(): Token {
    const saved = this.offset;
    const t = this.next();
    this.offset = saved;
    return t;
  }

  private scanIdent(start: number): Token {
    while (isIdentChar(this.char())) this.offset++;
    const word = this.text.slice(start, this.offset);
    const upper = word.toUpperCase();
    return KEYWORDS.has(upper) ? this.token("keyword", start, upper) : this.token("ident", start, word);
  }

  /** `"..."` identifiers and `'...'` strings, with backslash escapes of the quote, backslash and \n. */
  private scanQuoted(start: number, quote: string, kind: "ident" | "string"): Token {
    this.offset++;
    let value = "";
    for (;;) {
      const c = this.char();
      // InfluxDB places an unterminated string one char before its quote.
      if (c === "" || c === "\n") return { ...this.token("badstring", start, value), pos: Math.max(0, start - 1) };
      this.offset++;
      if (c === quote) return this.token(kind, start, value);
      if (c !== "\\") {
        value += c;
        continue;
      }
      const e = this.char();
      this.offset++;
      if (e === "n") value += "\n";
      else if (e === "\\" || e === quote) value += e;
      else value += `\\${e}`;
    }
  }

  private scanNumber(start: number): Token {
    while (isDigit(this.char())) this.offset++;
    if (this.char() === "." && isDigit(this.char(this.offset + 1))) {
      this.offset++;
      while (isDigit(this.char())) this.offset++;
      return this.token("number", start);
    }
    // Integer followed by units (possibly several, "1h30m") is a duration.
    let end = this.offset;
    const rest = (): string => this.text.slice(end);
    let sawUnit = false;
    for (;;) {
      const unit = UNITS.find(([u]) => rest().startsWith(u));
      if (unit === undefined || isIdentChar(this.char(end + unit[0].length)) && !isDigit(this.char(end + unit[0].length))) break;
      end += unit[0].length;
      sawUnit = true;
      let digits = end;
      while (isDigit(this.char(digits))) digits++;
      if (digits === end) break;
      end = digits;
    }
    if (!sawUnit) return this.token("integer", start);
    this.offset = end;
    return this.token("duration", start);
  }

  /**
   * Scans `/regex/` at the cursor, as InfluxDB does: `\/` stands for `/`, other escapes stay as written.
   * Returns undefined (cursor unmoved) when no regex starts here.
   */
  nextRegex(): { source: string; pos: number; end: boolean } | undefined {
    this.skipSpaceAndComments();
    if (this.char() !== "/") return undefined;
    // InfluxDB places a regex one char before its opening slash.
    const pos = Math.max(0, this.offset - 1);
    this.offset++;
    let source = "";
    for (;;) {
      const c = this.char();
      if (c === "" || c === "\n") return { source, pos, end: false };
      this.offset++;
      if (c === "/") return { source, pos, end: true };
      if (c === "\\" && this.char() === "/") {
        source += "/";
        this.offset++;
      } else if (c === "\\" && this.char() !== "") {
        source += c + this.char();
        this.offset++;
      } else source += c;
    }
  }
}
