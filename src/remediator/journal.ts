import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { AnsaiError, ErrorCodes } from "../core/errors.js";

/** Why an action did not run. */
export type SuppressReason = "dry_run" | "cooldown" | "rate_limit" | "in_flight";

/** One decision of the remediator, as written to the audit journal. */
export type JournalRecord = {
  /** Unique per record: `<timeMs>-<seq>`. */
  id: string;
  timeMs: number;
  /** Shared by every record of one attempt (planned → started → finished). */
  runId: string;
  action: string;
  rule: string;
  alertId: string;
  /** What the action acts on: the alert's series key. */
  target: string;
  dryRun: boolean;
} & (
  | {
      kind: "planned";
      /** What would run, e.g. the argv. */
      command: string;
      /** Why: the alert's summary. */
      reason: string;
      etaMs: number | null;
      etaLowMs: number | null;
      etaHighMs: number | null;
    }
  | { kind: "suppressed"; reason: SuppressReason; detail: string }
  | { kind: "started" }
  | { kind: "finished"; ok: boolean; exitCode: number | null; durationMs: number; outputTail: string; error?: string }
);

/** A record before the journal stamps its id. */
export type JournalEntry = JournalRecord extends infer R ? (R extends JournalRecord ? Omit<R, "id"> : never) : never;

/** Append-only, fsynced audit journal: one JSON record per line. */
export class Journal {
  private readonly fd: number;
  private seq = 0;

  private constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {
    this.fd = openSync(file, "a");
  }

  /** Opens (creating) `<dataDir>/journal.jsonl`. */
  static open(dataDir: string, log: Logger): Journal {
    mkdirSync(dataDir, { recursive: true });
    return new Journal(path.join(dataDir, "journal.jsonl"), log);
  }

  /** Appends and fsyncs one record; a record is durable when this returns. */
  append(entry: JournalEntry): JournalRecord {
    const record = { id: `${entry.timeMs}-${++this.seq}`, ...entry } as JournalRecord;
    try {
      writeSync(this.fd, `${JSON.stringify(record)}\n`);
      fsyncSync(this.fd);
    } catch (err) {
      throw new AnsaiError(
        ErrorCodes.JOURNAL_WRITE_FAILED,
        `cannot append to the audit journal ${this.file}: ${(err as Error).message}`,
        "Free space on the data dir's filesystem or fix its permissions; actions stay suppressed until the journal can be written.",
        { cause: err },
      );
    }
    return record;
  }

  /** Reads records, newest last; a torn line (a crash mid-write) is skipped with a warning. */
  read(opts: { limit?: number; sinceMs?: number } = {}): JournalRecord[] {
    const text = readFileSync(this.file, "utf8");
    const records: JournalRecord[] = [];
    const lines = text.split("\n");
    lines.forEach((line, index) => {
      if (line === "") return;
      try {
        const record = JSON.parse(line) as JournalRecord;
        if (opts.sinceMs === undefined || record.timeMs >= opts.sinceMs) records.push(record);
      } catch {
        this.log.warn({ file: this.file, line: index + 1 }, "skipping a torn journal line (likely a crash mid-write)");
      }
    });
    return opts.limit === undefined ? records : records.slice(-opts.limit);
  }

  close(): void {
    closeSync(this.fd);
  }
}
