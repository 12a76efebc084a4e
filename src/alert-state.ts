import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import type { SavedAlert } from "./analyzer/engine.js";
import type { SavedNotices } from "./notifier/dispatcher.js";

/**
 * Pending and firing alerts and the notices sent for them, kept in the data dir so a restart (an
 * upgrade, a crash) neither re-runs an alert's `for` nor notifies a firing alert again.
 */
export interface AlertState {
  savedAtMs: number;
  alerts: SavedAlert[];
  notices: SavedNotices;
}

/** State older than this is not restored: after a long outage alerts start over (as Prometheus' default for-outage tolerance). */
export const ALERT_STATE_TOLERANCE_MS = 60 * 60_000;
/** Unchanged state is rewritten this often, so that its age tells how long ANSAI was down. */
const REFRESH_MS = 60_000;

const etaSchema = z.number().nullable();
const savedSchema = z.object({
  version: z.literal(1),
  savedAtMs: z.number(),
  alerts: z.array(
    z.object({
      rule: z.string(),
      series: z.string(),
      phase: z.enum(["pending", "firing"]),
      activeSinceMs: z.number(),
      firedAtMs: z.number().nullable(),
      quietSinceMs: z.number().optional(),
      // What an alert's summary and API view read; the rest of the prediction passes through.
      prediction: z.looseObject({
        rule: z.string(),
        series: z.string(),
        tags: z.record(z.string(), z.string()),
        field: z.string(),
        value: z.number(),
        threshold: z.number(),
        etaMs: etaSchema,
        etaLowMs: etaSchema,
        etaHighMs: etaSchema,
      }),
      shownAtMs: z.number(),
    }),
  ),
  notices: z.record(z.string(), z.array(z.object({ id: z.string(), lastMs: z.number() }))),
});

export class AlertStateFile {
  private lastText = "";
  private lastWriteMs = -Infinity;
  /** A failed save is warned about once until a save succeeds. */
  private failing = false;

  constructor(
    /** The state file, `<data_dir>/alert-state.json`. */
    readonly file: string,
    private readonly log: Logger,
  ) {}

  static in(dataDir: string, log: Logger): AlertStateFile {
    return new AlertStateFile(path.join(dataDir, "alert-state.json"), log);
  }

  /** The saved state; undefined when there is none, when it is unreadable (warned: alerts start over) or too old. */
  load(nowMs: number): AlertState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.warn(err);
      return undefined;
    }
    let state: AlertState;
    try {
      const { savedAtMs, alerts, notices } = savedSchema.parse(JSON.parse(text));
      state = { savedAtMs, alerts: alerts as unknown as AlertState["alerts"], notices };
    } catch (err) {
      this.warn(err);
      return undefined;
    }
    if (nowMs - state.savedAtMs > ALERT_STATE_TOLERANCE_MS) {
      this.log.info({ file: this.file, savedAtMs: state.savedAtMs }, "alert state is over an hour old: alerts start over (pending ones run their for again)");
      return undefined;
    }
    return state;
  }

  /**
   * Saves the state when it changed (or a minute after the last write), through a temporary file
   * renamed over the old one, so a crash leaves one whole state or the other. A failure is
   * warned, never thrown: losing the state only makes alerts start over.
   */
  save(state: AlertState): void {
    const text = JSON.stringify({ alerts: state.alerts, notices: state.notices });
    if (text === this.lastText && state.savedAtMs - this.lastWriteMs < REFRESH_MS) return;
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: 1, savedAtMs: state.savedAtMs, alerts: state.alerts, notices: state.notices }));
      renameSync(tmp, this.file);
      this.lastText = text;
      this.lastWriteMs = state.savedAtMs;
      this.failing = false;
    } catch (err) {
      if (this.failing) return;
      this.failing = true;
      this.log.warn({ file: this.file, err: (err as Error).message }, "cannot save the alert state: after a restart alerts would start over; check the data dir's space and permissions");
    }
  }

  private warn(err: unknown): void {
    this.log.warn({ file: this.file, err: (err as Error).message }, "alert state unreadable: alerts start over (pending ones run their for again); the file is replaced at the next evaluation");
  }
}
