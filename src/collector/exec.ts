import { spawn } from "node:child_process";
import { z } from "zod";
import { durationMs, duration } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { parseSection } from "./config-section.js";
import { parseLineProtocol } from "./ingest/line-protocol.js";

const execCommandSchema = z.strictObject({
  name: z.string().min(1).describe("Name of the command in error reports, e.g. raid_status."),
  argv: z
    .array(z.string())
    .min(1)
    .describe("Program and arguments, run without a shell; its stdout is read as InfluxDB line protocol with ns timestamps."),
  timeout: duration.default("10s").describe("Kill the command and everything it started after this long."),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe("Extra environment variables; besides these the program only gets PATH, HOME, LANG, LC_ALL, TZ and USER."),
});

/** The `collectors.exec` config section (Telegraf's inputs.exec with data_format = "influx"). */
export const execConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Run the configured commands each interval; without commands it does nothing."),
  commands: z.array(execCommandSchema).default([]).describe("Programs whose stdout is line protocol, one point per line."),
});

export type ExecConfig = z.output<typeof execConfigSchema>;

export interface ExecCollectorDeps {
  /** Environment the inherited variables (PATH, HOME, ...) come from; the composition root passes process.env. */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Largest stdout read per command; past it the command is killed and reported. Default 16 MiB. */
  maxOutputBytes?: number;
}

const DEFAULT_MAX_OUTPUT_BYTES = 16 << 20;
const STDERR_TAIL_BYTES = 2048;
/** Bad lines reported one by one per command and pass; the rest are counted in one report. */
const MAX_LINE_REPORTS = 10;
/** Variables a program needs to run at all; ANSAI's other variables (tokens) stay out. */
const INHERITED = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER"];

type RunResult = { ok: true; stdout: string } | { ok: false; error: string };

/**
 * Runs each command (concurrently, argv only, never a shell) and parses its stdout as line
 * protocol: precision ns as in Telegraf, points without a timestamp get ctx.nowMs, and `host`
 * = ctx.host when the line names none. Bad lines are reported with line and column and the good
 * ones kept; a non-zero exit, a timeout (which kills the process group) or a start failure is
 * reported and yields no points from that command, as in Telegraf.
 */
export function createExecCollector(input: z.input<typeof execConfigSchema> = {}, deps: ExecCollectorDeps = {}): Collector {
  const config: ExecConfig = parseSection("exec", execConfigSchema, input);
  const commands = config.commands.map((c) => ({ ...c, timeoutMs: durationMs(c.timeout) }));
  const maxOutputBytes = deps.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const baseEnv = deps.baseEnv ?? {};
  return {
    name: "exec",
    async collect(ctx) {
      const results = await Promise.all(
        commands.map((c) => runCommand(c.argv, commandEnv(baseEnv, c.env), c.timeoutMs, maxOutputBytes)),
      );
      const points: Point[] = [];
      results.forEach((r, i) => {
        const name = (commands[i] as (typeof commands)[number]).name;
        if (!r.ok) ctx.reportError(name, new Error(`exec ${name}: ${r.error}`));
        else points.push(...parseOutput(ctx, name, r.stdout));
      });
      return points;
    },
  };
}

function commandEnv(base: Readonly<Record<string, string | undefined>>, extra: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED) {
    const value = base[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, extra);
}

function parseOutput(ctx: CollectContext, name: string, stdout: string): Point[] {
  const { points, errors } = parseLineProtocol(stdout, { precision: "ns", defaultTimeMs: ctx.nowMs });
  for (const e of errors.slice(0, MAX_LINE_REPORTS)) {
    ctx.reportError(name, new Error(`exec ${name}: output line ${e.line}, column ${e.column}: ${e.message}: ${JSON.stringify(e.text)}`));
  }
  if (errors.length > MAX_LINE_REPORTS) {
    ctx.reportError(name, new Error(`exec ${name}: ${errors.length - MAX_LINE_REPORTS} more bad output lines not shown`));
  }
  // Points of one series share a tags object; keep them sharing one with host added.
  const withHost = new Map<Readonly<Record<string, string>>, Readonly<Record<string, string>>>();
  return points.map((p) => {
    if (p.tags.host !== undefined) return p;
    let tags = withHost.get(p.tags);
    if (tags === undefined) {
      tags = { ...p.tags, host: ctx.host };
      withHost.set(p.tags, tags);
    }
    return { ...p, tags };
  });
}

/** Runs one program; a timeout or an oversized output kills its whole process group. */
function runCommand(argv: readonly string[], env: Record<string, string>, timeoutMs: number, maxOutputBytes: number): Promise<RunResult> {
  const [program, ...args] = argv;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let outBytes = 0;
    let stderrTail = "";
    let settled = false;
    // Own process group (detached), so a kill reaches everything the program started.
    const child = spawn(program ?? "", args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"], shell: false });
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const killGroup = (): void => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      // A daemon that left the group may still hold the pipes; stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => {
      killGroup();
      finish({ ok: false, error: `timed out after ${timeoutMs} ms; process group killed` });
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutputBytes) {
        killGroup();
        finish({ ok: false, error: `output is larger than ${maxOutputBytes} bytes; process group killed` });
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    child.on("error", (err) => finish({ ok: false, error: `cannot start ${JSON.stringify(program)}: ${err.message}` }));
    child.on("close", (code, signal) => {
      const stderr = stderrTail.trim() === "" ? "" : `: ${stderrTail.trim()}`;
      if (signal !== null) return finish({ ok: false, error: `killed by ${signal}${stderr}` });
      if (code !== 0) return finish({ ok: false, error: `exited with code ${code}${stderr}` });
      finish({ ok: true, stdout: Buffer.concat(chunks).toString("utf8") });
    });
  });
}
