import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { Logger } from "pino";
import type { Alert } from "../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";

/** Why an action did not run; each maps to a config key that changes it. */
export const SUPPRESS_REASONS = [
  "dry_run",
  "maintenance",
  "silenced",
  "not_allowed",
  "breaker_open",
  "in_flight",
  "cooldown",
  "rate_limit_target",
  "rate_limit_rule",
  "rate_limit_global",
  "concurrency",
  "group_busy",
  "storm",
] as const;
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];

type Details = Readonly<Record<string, string | number | boolean | null>>;

// A type alias, not an interface: it stays assignable to Record<string, unknown> (the API's response schema).
type RecordBase = {
  /** Unique per record: `<timeMs>-<nonce><seq>`. */
  id: string;
  timeMs: number;
  /**
   * Shared by every record of one run (planned → started → finished → verified), derived from
   * (action, target, alert id, episode start), so one firing episode is planned once.
   */
  runId: string;
  action: string;
  rule: string;
  alertId: string;
  /** What the action acts on: `action.target(alert)` or the alert's series key. */
  target: string;
  dryRun: boolean;
};

/** The body of each kind of record. */
export type JournalBody =
  | {
      kind: "planned";
      /** What would run, e.g. the argv. */
      command: string;
      /** Why: the alert's summary. */
      reason: string;
      etaMs: number | null;
      etaLowMs: number | null;
      etaHighMs: number | null;
      /** Start of the alert's firing episode (ms). */
      activeSinceMs: number;
      /** Run id of the run that escalated to this one. */
      escalatedFrom?: string;
    }
  | { kind: "suppressed"; reason: SuppressReason; detail: string }
  | {
      kind: "queued";
      detail: string;
      /** What it waits for: a free slot (concurrency) or its group's run (group_busy); absent in older journals. */
      reason?: "concurrency" | "group_busy";
    }
  | { kind: "awaiting_approval"; preview: string[]; expiresAtMs: number; alert: Alert; escalatedFrom?: string }
  | { kind: "approved"; by: string }
  | { kind: "rejected"; by: string; reason: string }
  | { kind: "expired"; detail: string }
  | {
      kind: "started";
      attempt: number;
      /** The agent that runs it on its host; absent when the server runs it itself. */
      agent?: string;
    }
  | {
      kind: "finished";
      attempt: number;
      ok: boolean;
      exitCode: number | null;
      durationMs: number;
      outputTail: string;
      error?: string;
      details?: Details;
    }
  | { kind: "verified"; attempt: number; detail: string }
  | { kind: "not_verified"; attempt: number; detail: string }
  | { kind: "retry_scheduled"; attempt: number; atMs: number; detail: string }
  | { kind: "escalated"; to: string; detail: string }
  | { kind: "breaker_opened"; untilMs: number; failures: number; detail: string }
  | { kind: "raised"; alertRule: string; summary: string }
  /** A fleet-wide storm began (automatic actions pause) or ended (`by`: resumed by a person, or subsided). */
  | { kind: "storm_started"; hosts: string[]; detail: string }
  | { kind: "storm_ended"; by: string; detail: string };

/** One decision of the remediator, as written to the audit journal. */
export type JournalRecord = RecordBase & JournalBody;
export type JournalKind = JournalBody["kind"];

/** Every kind of record, for API schemas and filters (the type check keeps it complete). */
export const JOURNAL_KINDS = [
  "planned", "suppressed", "queued", "awaiting_approval", "approved", "rejected", "expired", "started", "finished",
  "verified", "not_verified", "retry_scheduled", "escalated", "breaker_opened", "raised", "storm_started", "storm_ended",
] as const satisfies readonly JournalKind[];
// Fails to compile when a kind of JournalBody is missing above.
const allKindsListed: Record<JournalKind, true> = Object.fromEntries(JOURNAL_KINDS.map((k) => [k, true])) as Record<(typeof JOURNAL_KINDS)[number], true>;
void allKindsListed;

/** A record before the journal stamps its id. */
export type JournalEntry = Omit<RecordBase, "id"> & JournalBody;

/** Filters of `Journal.read`; all optional, combined with AND. */
export interface JournalQuery {
  /** Records at or after this time (ms). */
  sinceMs?: number;
  action?: string;
  target?: string;
  kind?: JournalKind | readonly JournalKind[];
  runId?: string;
  /** The newest `limit` matching records (none for 0). */
  limit?: number;
}

const TAIL_CHUNK_BYTES = 64 * 1024;

/** Append-only, fsynced audit journal: one JSON record per line. */
export class Journal {
  private readonly fd: number;
  private seq = 0;
  /** Keeps record ids unique across reopenings of the same file. */
  private readonly nonce = randomBytes(3).toString("hex");
  /** Byte offsets of unparsable lines already warned about, so each is reported once. */
  private readonly warnedOffsets = new Set<number>();

  private constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {
    this.fd = openSync(file, "a+");
    this.repairTornTail();
  }

  /** Opens (creating) `<dataDir>/journal.jsonl`; a torn last line is reported and fenced off. */
  static open(dataDir: string, log: Logger, onRecord?: (record: JournalRecord) => void): Journal {
    mkdirSync(dataDir, { recursive: true });
    const journal = new Journal(path.join(dataDir, "journal.jsonl"), log);
    journal.onRecord = onRecord;
    return journal;
  }

  /** Told of every durable record (e.g. to chart decisions); its failures never fail an append. */
  private onRecord: ((record: JournalRecord) => void) | undefined;

  /** Appends and fsyncs one record; a record is durable when this returns. */
  append(entry: JournalEntry): JournalRecord {
    const record = { id: `${entry.timeMs}-${this.nonce}${++this.seq}`, ...entry } as JournalRecord;
    this.write(`${JSON.stringify(record)}\n`);
    try {
      this.onRecord?.(record);
    } catch (err) {
      this.log.warn({ err }, "a journal listener failed; the record itself is written");
    }
    return record;
  }

  /**
   * Reads matching records, oldest first; unparsable lines are skipped and counted in a warning.
   * With a `limit` the file is read from its end, only as far back as the newest matches reach
   * (the API's queries: a long journal is not read whole per request).
   */
  read(query: JournalQuery = {}): JournalRecord[] {
    const kinds = query.kind === undefined ? undefined : new Set<string>(typeof query.kind === "string" ? [query.kind] : query.kind);
    if (query.limit !== undefined) return this.readNewest(query, query.limit, kinds);
    const buf = readFileSync(this.file);
    const records: JournalRecord[] = [];
    const skippedOffsets: number[] = [];
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      if (end > start) {
        const record = parseLine(buf.toString("utf8", start, end));
        if (record === undefined) skippedOffsets.push(start);
        else if (matches(record, query, kinds)) records.push(record);
      }
      start = end + 1;
    }
    this.warnSkipped(skippedOffsets);
    return records;
  }

  /** The newest `limit` matching records, oldest first, read backwards from the end. */
  private readNewest(query: JournalQuery, limit: number, kinds: ReadonlySet<string> | undefined): JournalRecord[] {
    const newestFirst: JournalRecord[] = [];
    const skippedOffsets: number[] = [];
    if (limit > 0) {
      for (const { offset, text } of this.linesBackward(fstatSync(this.fd).size)) {
        if (text === "") continue;
        const record = parseLine(text);
        if (record === undefined) skippedOffsets.push(offset);
        else if (matches(record, query, kinds) && newestFirst.push(record) >= limit) break;
      }
    }
    this.warnSkipped(skippedOffsets);
    return newestFirst.reverse();
  }

  close(): void {
    closeSync(this.fd);
  }

  private write(text: string): void {
    try {
      writeSync(this.fd, text);
      fsyncSync(this.fd);
    } catch (err) {
      throw new AnsaiError(
        ErrorCodes.JOURNAL_WRITE_FAILED,
        `cannot append to the audit journal ${this.file}: ${(err as Error).message}`,
        "Free space on the data dir's filesystem or fix its permissions; actions stay suppressed until the journal can be written.",
        { cause: err },
      );
    }
  }

  /**
   * A crash mid-append leaves a last line without its newline. It is reported with its offset and
   * ended with a newline, so the next record starts on a line of its own and parses.
   */
  private repairTornTail(): void {
    const size = fstatSync(this.fd).size;
    if (size === 0) return;
    const { offset, text, terminated } = this.lastLine(size);
    if (terminated && parseLine(text) !== undefined) return;
    this.warnedOffsets.add(offset);
    this.log.warn(
      { file: this.file, offsetBytes: offset, bytes: size - offset },
      "the journal's last line is torn (likely a crash mid-write): it is skipped; earlier records are intact",
    );
    if (!terminated) this.write("\n");
  }

  /** The last line of the file (at least one byte long), and whether a newline ends it. */
  private lastLine(size: number): { offset: number; text: string; terminated: boolean } {
    const last = Buffer.alloc(1);
    readSync(this.fd, last, 0, 1, size - 1);
    const { offset, text } = this.linesBackward(size).next().value as { offset: number; text: string };
    return { offset, text, terminated: last[0] === 0x0a };
  }

  /**
   * The first `size` bytes' lines, last first, with their byte offsets: read backwards in chunks,
   * so the tail of a large journal costs only the tail. A final newline ends the last line (it
   * starts no empty one); lines split only at newline bytes, so multi-byte characters stay whole.
   */
  private *linesBackward(size: number): Generator<{ offset: number; text: string }> {
    if (size === 0) return;
    const last = Buffer.alloc(1);
    readSync(this.fd, last, 0, 1, size - 1);
    // Bytes before `pos` are unread; `pieces` hold the current line's bytes read so far, in order.
    let pos = last[0] === 0x0a ? size - 1 : size;
    let pieces: Buffer[] = [];
    while (pos > 0) {
      const len = Math.min(TAIL_CHUNK_BYTES, pos);
      const chunk = Buffer.alloc(len);
      readSync(this.fd, chunk, 0, len, pos - len);
      let stop = len;
      for (let nl = chunk.lastIndexOf(0x0a, stop - 1); nl !== -1; nl = stop > 0 ? chunk.lastIndexOf(0x0a, stop - 1) : -1) {
        yield { offset: pos - len + nl + 1, text: Buffer.concat([chunk.subarray(nl + 1, stop), ...pieces]).toString("utf8") };
        pieces = [];
        stop = nl;
      }
      pieces = [chunk.subarray(0, stop), ...pieces];
      pos -= len;
    }
    yield { offset: 0, text: Buffer.concat(pieces).toString("utf8") };
  }

  private warnSkipped(offsets: readonly number[]): void {
    const fresh = offsets.filter((o) => !this.warnedOffsets.has(o));
    if (fresh.length === 0) return;
    for (const o of fresh) this.warnedOffsets.add(o);
    this.log.warn(
      { file: this.file, skippedLines: offsets.length, offsetsBytes: fresh.slice(0, 10) },
      "skipping unparsable journal lines (a crash mid-write or an edit by hand)",
    );
  }
}

function parseLine(text: string): JournalRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || typeof (value as { kind?: unknown }).kind !== "string") return undefined;
    return value as JournalRecord;
  } catch {
    return undefined;
  }
}

function matches(r: JournalRecord, q: JournalQuery, kinds: ReadonlySet<string> | undefined): boolean {
  if (q.sinceMs !== undefined && r.timeMs < q.sinceMs) return false;
  if (q.action !== undefined && r.action !== q.action) return false;
  if (q.target !== undefined && r.target !== q.target) return false;
  if (q.runId !== undefined && r.runId !== q.runId) return false;
  return kinds === undefined || kinds.has(r.kind);
}
