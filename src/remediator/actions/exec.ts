import { spawn } from "node:child_process";
import { z } from "zod";
import { duration } from "../../config/zod-types.js";
import type { Action, ActionResult, Alert } from "../../core/contracts.js";

/** Config keys of an `exec` action, merged with the common action keys in `actions/index.ts`. */
export const execActionSchema = z.strictObject({
  type: z.literal("exec").describe("Run a program."),
  argv: z
    .array(z.string())
    .min(1)
    .describe("Program and arguments, run without a shell. Alert data arrives only as ANSAI_* environment variables."),
  timeout: duration.default("60s").describe("The program's whole process group is killed after this long."),
});

export interface ExecOptions {
  /** Program and arguments; never passed through a shell. */
  argv: readonly string[];
  timeoutMs: number;
  /** Environment inherited by the program besides the ANSAI_* variables. */
  baseEnv: Readonly<Record<string, string | undefined>>;
}

const OUTPUT_TAIL_BYTES = 4096;
/** Variables a program needs to run at all; everything else of ANSAI's environment stays out. */
const INHERITED = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER"];

/** Alert data as environment variables: the only way metric data reaches the program. */
export function alertEnv(alert: Alert): Record<string, string> {
  const p = alert.prediction;
  const env: Record<string, string> = {
    ANSAI_ALERT_ID: alert.id,
    ANSAI_RULE: alert.rule,
    ANSAI_SEVERITY: alert.severity,
    ANSAI_STATE: alert.state,
    ANSAI_SERIES: alert.series,
    ANSAI_SUMMARY: alert.summary,
    ANSAI_VALUE: String(p.value),
    ANSAI_THRESHOLD: String(p.threshold),
    ANSAI_ETA_MS: p.etaMs === null ? "" : String(p.etaMs),
    ANSAI_ETA_LOW_MS: p.etaLowMs === null ? "" : String(p.etaLowMs),
    ANSAI_ETA_HIGH_MS: p.etaHighMs === null ? "" : String(p.etaHighMs),
    ANSAI_ALERT_JSON: JSON.stringify(alert),
  };
  for (const [key, value] of Object.entries(alert.tags)) {
    env[`ANSAI_TAG_${key.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`] = value;
  }
  // A NUL cannot travel in an environment block; drop it rather than fail the action.
  for (const key of Object.keys(env)) env[key] = (env[key] ?? "").replaceAll("\u0000", "");
  return env;
}

/** Runs a configured program with a timeout that kills its whole process group. */
export function createExecAction(opts: ExecOptions): Action {
  return {
    type: "exec",
    describe: () => `exec ${JSON.stringify(opts.argv)} (timeout ${opts.timeoutMs} ms)`,
    run: (alert, signal) => runProgram(opts, alertEnv(alert), signal),
  };
}

/** The environment a program gets: the few variables it needs from `baseEnv`, plus `extraEnv`. */
export function programEnv(baseEnv: Readonly<Record<string, string | undefined>>, extraEnv: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED) {
    const value = baseEnv[key];
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, extraEnv);
  return env;
}

/**
 * Runs `opts.argv` (no shell) with `programEnv(opts.baseEnv, extraEnv)` in its own process group,
 * killing the group on timeout or abort. Never rejects: failures come back as `ok: false`.
 */
export function runProgram(opts: ExecOptions, extraEnv: Record<string, string>, signal: AbortSignal): Promise<ActionResult> {
  const started = Date.now();
  const env = programEnv(opts.baseEnv, extraEnv);
  const [program, ...args] = opts.argv;
  return new Promise((resolve) => {
    let tail = "";
    let timedOut = false;
    const child = spawn(program ?? "", args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"], shell: false });
    const keepTail = (chunk: Buffer): void => {
      tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout.on("data", keepTail);
    child.stderr.on("data", keepTail);
    const killGroup = (): void => {
      // Negative pid: the program and everything it started.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = (): void => killGroup();
    signal.addEventListener("abort", onAbort, { once: true });
    const finish = (result: Omit<ActionResult, "durationMs" | "outputTail">): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve({ ...result, durationMs: Date.now() - started, outputTail: tail });
    };
    child.on("error", (err) => finish({ ok: false, exitCode: null, error: `cannot start ${program}: ${err.message}` }));
    child.on("close", (code, sig) => {
      if (timedOut) return finish({ ok: false, exitCode: code, error: `timed out after ${opts.timeoutMs} ms; process group killed` });
      if (sig) return finish({ ok: false, exitCode: null, error: `killed by ${sig}` });
      finish(code === 0 ? { ok: true, exitCode: 0 } : { ok: false, exitCode: code, error: `exited with code ${code}` });
    });
  });
}
