import { randomUUID } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { isValidRegex, tagMatchers } from "../config/zod-types.js";
import type { Alert } from "../core/contracts.js";
import { compileTagMatchers, isRegexMatcher, type CompiledTagMatcher, type TagMatchers } from "../core/tag-match.js";

/** What a silence matches: a rule (exact or "/regex/") and tags (exact or "/regex/"), combined with AND. */
export const silenceMatchersSchema = z.strictObject({
  rule: z
    .string()
    .min(1)
    .refine((v) => !isRegexMatcher(v) || isValidRegex(v.slice(1, -1)), { message: "expected a valid regular expression between the slashes" })
    .optional()
    .describe('Rule name: exact, or "/regex/"; unset: any rule.'),
  tags: tagMatchers.describe('Tag matchers: an exact value, or "/regex/".'),
});

export type SilenceMatchers = z.output<typeof silenceMatchersSchema>;

/** A silence as stored: alerts it matches are not acted on until `endsAtMs`. */
export interface Silence {
  id: string;
  matchers: { rule?: string; tags: TagMatchers };
  comment?: string;
  /** Who made it, e.g. a user name. */
  createdBy: string;
  createdAtMs: number;
  endsAtMs: number;
}

export interface SilenceInput {
  matchers: { rule?: string; tags?: TagMatchers };
  comment?: string;
  createdBy: string;
  endsAtMs: number;
}

const fileSchema = z.object({
  version: z.literal(1),
  silences: z.array(
    z.object({
      id: z.string(),
      matchers: silenceMatchersSchema,
      comment: z.string().optional(),
      createdBy: z.string(),
      createdAtMs: z.number(),
      endsAtMs: z.number(),
    }),
  ),
});

/**
 * Silences kept in `<dataDir>/silences.json`, written atomically (temp file, fsync, rename) so a
 * crash leaves either the old or the new list. Generic: the remediator and notifiers both ask `matches`.
 */
export class Silences {
  private readonly items = new Map<string, { silence: Silence; match: (alert: Alert) => boolean }>();

  private constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Loads (or starts) the silences of a data dir; an unreadable file is moved aside with a warning. */
  static open(dataDir: string, log: Logger): Silences {
    mkdirSync(dataDir, { recursive: true });
    const silences = new Silences(path.join(dataDir, "silences.json"), log);
    silences.load();
    return silences;
  }

  /** Adds a silence and persists the list; drops silences that ended before `nowMs`. */
  add(input: SilenceInput, nowMs: number): Silence {
    const silence: Silence = {
      id: randomUUID(),
      matchers: { ...(input.matchers.rule === undefined ? {} : { rule: input.matchers.rule }), tags: { ...(input.matchers.tags ?? {}) } },
      ...(input.comment === undefined ? {} : { comment: input.comment }),
      createdBy: input.createdBy,
      createdAtMs: nowMs,
      endsAtMs: input.endsAtMs,
    };
    const match = compileSilence(silence);
    this.prune(nowMs);
    this.items.set(silence.id, { silence, match });
    this.save();
    return silence;
  }

  /** Removes a silence; false when there is none with this id. */
  remove(id: string): boolean {
    if (!this.items.delete(id)) return false;
    this.save();
    return true;
  }

  /** Stored silences, soonest end first; with `nowMs`, only those still in force. */
  list(nowMs?: number): Silence[] {
    return [...this.items.values()]
      .map((i) => i.silence)
      .filter((s) => nowMs === undefined || s.endsAtMs > nowMs)
      .sort((a, b) => a.endsAtMs - b.endsAtMs);
  }

  /** The first silence in force at `nowMs` that matches the alert, if any. */
  matches(alert: Alert, nowMs: number): Silence | undefined {
    for (const { silence, match } of this.items.values()) {
      if (silence.endsAtMs > nowMs && match(alert)) return silence;
    }
    return undefined;
  }

  private prune(nowMs: number): void {
    for (const [id, { silence }] of this.items) if (silence.endsAtMs <= nowMs) this.items.delete(id);
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    try {
      const parsed = fileSchema.parse(JSON.parse(readFileSync(this.file, "utf8")));
      for (const silence of parsed.silences) this.items.set(silence.id, { silence, match: compileSilence(silence) });
    } catch (err) {
      const aside = `${this.file}.unreadable-${Date.now()}`;
      renameSync(this.file, aside);
      this.log.warn({ err, file: this.file, movedTo: aside }, "cannot read the silences file; it was moved aside and no silence is in force");
    }
  }

  private save(): void {
    const tmp = `${this.file}.tmp-${process.pid}`;
    const body = JSON.stringify({ version: 1, silences: this.list() }, null, 2);
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, `${body}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename itself is durable only once the directory is synced.
    const dir = openSync(path.dirname(this.file), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}

function compileSilence(silence: Silence): (alert: Alert) => boolean {
  const tags: CompiledTagMatcher = compileTagMatchers(silence.matchers.tags);
  const rule = silence.matchers.rule;
  const ruleMatches = rule === undefined ? () => true : compileValue(rule);
  return (alert) => ruleMatches(alert.rule) && tags(alert.tags);
}

function compileValue(want: string): (value: string) => boolean {
  if (!isRegexMatcher(want)) return (v) => v === want;
  const re = new RegExp(`^(?:${want.slice(1, -1)})$`, "s");
  return (v) => re.test(v);
}
