import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import type { Action, ActionResult, Alert } from "../../core/contracts.js";
import { duration, durationMs } from "../../config/zod-types.js";
import { runProgram } from "./exec.js";

// Runs an Ansible playbook as a healing action. Alert data never reaches argv: it travels in a
// private vars file, every string tagged `!unsafe` so Ansible never templates it. Ansible does
// template plain extra vars from files, so a tag value such as `{{ lookup('pipe', ...) }}` in a
// JSON file would run commands on the controller.

const RESERVED_VAR = "ansai";

export const ansibleActionSchema = z.strictObject({
  type: z.literal("ansible").describe("Runs an Ansible playbook; the alert arrives as the extra var `ansai`."),
  playbook: z.string().min(1).describe("Path of the playbook to run (relative paths are resolved from ANSAI's working directory)."),
  inventory: z
    .string()
    .min(1)
    .default("localhost,")
    .describe('Inventory passed as --inventory: a file, a directory, or a host list ending in a comma ("localhost," runs on this host).'),
  connection: z
    .string()
    .min(1)
    .optional()
    .describe('Connection plugin (--connection); default "local" when the inventory is "localhost," or "127.0.0.1,", else Ansible\'s own default (ssh).'),
  ansible_playbook: z.string().min(1).default("ansible-playbook").describe("The ansible-playbook program: a name looked up in PATH, or a path."),
  extra_vars: z
    .record(
      z.string().min(1).refine((k) => k !== RESERVED_VAR, { message: `"${RESERVED_VAR}" is reserved for the alert context` }),
      z.json(),
    )
    .default({})
    .describe("Static extra vars from this config (templated by Ansible as usual). The alert context arrives separately as `ansai`."),
  limit_from_tag: z
    .string()
    .min(1)
    .optional()
    .describe('Run only on the host named by this alert tag (--limit), e.g. "host". A value that is not a plain host name fails the action without running anything.'),
  timeout: duration.default("10m").describe("Kill ansible-playbook and everything it started after this long."),
  check: z.boolean().default(false).describe("Pass --check: Ansible reports what it would change without changing it."),
});

export type AnsibleActionConfig = z.output<typeof ansibleActionSchema>;

export interface AnsibleActionDeps {
  /** Environment the program inherits PATH/HOME/locale (and SSH_AUTH_SOCK) from. */
  baseEnv: Readonly<Record<string, string | undefined>>;
}

/** RFC 1123 host name (IPv4 addresses included); nothing Ansible reads as a pattern (`*`, `:`, `!`, `~`, `@`, `,`). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Host names that are really Ansible group names covering every host. */
const GROUP_NAMES = new Set(["all", "ungrouped"]);
const LOCAL_INVENTORIES = new Set(["localhost,", "127.0.0.1,"]);
const VARS_FILE_PLACEHOLDER = "<alert vars file>";
const EXIT_MEANINGS: Readonly<Record<number, string>> = { 2: "a task failed on a host", 4: "a host was unreachable" };

type Limit = { ok: true; host: string | undefined } | { ok: false; error: string };

/** The --limit host for this alert, or why the action must not run. */
export function limitFor(tag: string | undefined, alert: Alert): Limit {
  if (tag === undefined) return { ok: true, host: undefined };
  const value = alert.tags[tag];
  if (value === undefined) return { ok: false, error: `alert has no tag "${tag}" (limit_from_tag), so the playbook was not run` };
  if (!HOST_NAME.test(value) || GROUP_NAMES.has(value.toLowerCase())) {
    return { ok: false, error: `tag "${tag}" is ${JSON.stringify(value)}, not a plain host name, so the playbook was not run (limit_from_tag)` };
  }
  return { ok: true, host: value };
}

/** Everything a playbook learns about the alert, under the extra var `ansai`. */
export function ansibleContext(alert: Alert): Record<string, unknown> {
  const p = alert.prediction;
  return {
    alert_id: alert.id,
    rule: alert.rule,
    severity: alert.severity,
    state: alert.state,
    series: alert.series,
    summary: alert.summary,
    tags: alert.tags,
    measurement: p.measurement,
    field: p.field,
    value: p.value,
    threshold: p.threshold,
    eta_ms: p.etaMs,
    eta_low_ms: p.etaLowMs,
    eta_high_ms: p.etaHighMs,
    confidence: p.confidence,
    alert: JSON.parse(JSON.stringify(alert)) as unknown,
  };
}

/** YAML's non-printable characters plus line breaks (which fold inside quotes); lone surrogates become U+FFFD. */
function yamlEscape(cp: number): string | undefined {
  if (cp === 0x5c) return "\\\\";
  if (cp === 0x22) return '\\"';
  if (cp >= 0xd800 && cp <= 0xdfff) return "\\uFFFD";
  const plain = (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xfffd && cp !== 0x2028 && cp !== 0x2029 && cp !== 0xfeff) || cp >= 0x10000;
  return plain ? undefined : `\\u${cp.toString(16).padStart(4, "0")}`;
}

function yamlString(text: string): string {
  let out = '!unsafe "';
  for (const ch of text) out += yamlEscape(ch.codePointAt(0) ?? 0) ?? ch;
  return `${out}"`;
}

/** A YAML 1.1 float always has a dot: "1e-7" would load as a string. */
function yamlNumber(n: number): string {
  if (!Number.isFinite(n)) return "null";
  const text = String(n);
  return text.includes("e") && !text.includes(".") ? text.replace("e", ".0e") : text;
}

/** Flow-style YAML with every string (keys too) tagged `!unsafe`, so Ansible never templates it. */
export function toUnsafeYaml(value: unknown): string {
  if (typeof value === "string") return yamlString(value);
  if (typeof value === "number") return yamlNumber(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return `[${value.map(toUnsafeYaml).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${yamlString(k)}: ${toUnsafeYaml(v)}`).join(", ")}}`;
  }
  return "null";
}

function connectionFor(config: AnsibleActionConfig): string | undefined {
  return config.connection ?? (LOCAL_INVENTORIES.has(config.inventory.trim()) ? "local" : undefined);
}

function buildArgv(config: AnsibleActionConfig, host: string | undefined, varsFile: string): string[] {
  const argv = [config.ansible_playbook, "--inventory", config.inventory];
  const connection = connectionFor(config);
  if (connection !== undefined) argv.push("--connection", connection);
  if (host !== undefined) argv.push("--limit", host);
  if (config.check) argv.push("--check");
  if (Object.keys(config.extra_vars).length > 0) argv.push("--extra-vars", JSON.stringify(config.extra_vars));
  argv.push("--extra-vars", `@${varsFile}`, config.playbook);
  return argv;
}

/** Settings for an unattended run whose scratch files stay in `dir`. Host key checking stays on: an unknown key fails the run rather than being trusted. */
function ansibleEnv(dir: string, local: boolean, baseEnv: AnsibleActionDeps["baseEnv"]): Record<string, string> {
  const env: Record<string, string> = {
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_NOCOWS: "1",
    ANSIBLE_RETRY_FILES_ENABLED: "False",
    ANSIBLE_LOCAL_TEMP: path.join(dir, "local-tmp"),
  };
  // A remote temp path in our private dir only means something on this host.
  if (local) env.ANSIBLE_REMOTE_TEMP = path.join(dir, "remote-tmp");
  // ssh connections need the agent's keys; nothing else of ANSAI's environment goes along.
  if (baseEnv.SSH_AUTH_SOCK !== undefined) env.SSH_AUTH_SOCK = baseEnv.SSH_AUTH_SOCK;
  return env;
}

/** Host counts from the PLAY RECAP, summed over hosts, when the tail still holds it. */
function recapCounts(tail: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const m of tail.matchAll(/^\S+\s*:\s*((?:\w+=\d+\s*)+)$/gm)) {
    for (const [, key, n] of (m[1] ?? "").matchAll(/(\w+)=(\d+)/g)) {
      if (key !== undefined && ["ok", "changed", "unreachable", "failed"].includes(key)) totals[key] = (totals[key] ?? 0) + Number(n);
    }
  }
  return totals;
}

function notRun(error: string, startedMs: number): ActionResult {
  return { ok: false, exitCode: null, durationMs: Date.now() - startedMs, outputTail: "", error };
}

/** Runs `config.playbook` with the alert as the `!unsafe` extra var `ansai`, in a private temp dir removed afterwards. */
export function createAnsibleAction(config: AnsibleActionConfig, deps: AnsibleActionDeps): Action {
  const timeoutMs = durationMs(config.timeout);
  const local = connectionFor(config) === "local";

  async function run(alert: Alert, signal: AbortSignal): Promise<ActionResult> {
    const startedMs = Date.now();
    const limit = limitFor(config.limit_from_tag, alert);
    if (!limit.ok) return notRun(limit.error, startedMs);
    // mkdtemp makes the dir 0700; the vars file is 0600 on top.
    const dir = await mkdtemp(path.join(tmpdir(), "ansai-ansible-"));
    try {
      const varsFile = path.join(dir, "ansai-vars.yml");
      await writeFile(varsFile, `${toUnsafeYaml({ [RESERVED_VAR]: ansibleContext(alert) })}\n`, { mode: 0o600, flag: "wx" });
      const argv = buildArgv(config, limit.host, varsFile);
      const result = await runProgram({ argv, timeoutMs, baseEnv: deps.baseEnv }, ansibleEnv(dir, local, deps.baseEnv), signal);
      const meaning = result.exitCode === null ? undefined : EXIT_MEANINGS[result.exitCode];
      const error = result.error !== undefined && meaning !== undefined ? `${result.error}: ${meaning}` : result.error;
      const details = { playbook: config.playbook, limit: limit.host ?? null, check: config.check, ...recapCounts(result.outputTail) };
      return { ...result, ...(error === undefined ? {} : { error }), details };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return {
    type: "ansible",
    describe: (alert) => {
      const limit = limitFor(config.limit_from_tag, alert);
      const argv = buildArgv(config, limit.ok ? limit.host : undefined, VARS_FILE_PLACEHOLDER);
      return `ansible ${JSON.stringify(argv)} (timeout ${timeoutMs} ms)${limit.ok ? "" : `; will not run: ${limit.error}`}`;
    },
    target: (alert) => {
      const host = config.limit_from_tag === undefined ? undefined : alert.tags[config.limit_from_tag];
      return `playbook:${config.playbook}${host === undefined ? "" : `@${host}`}`;
    },
    preview: (alert) => {
      const limit = limitFor(config.limit_from_tag, alert);
      if (!limit.ok) return Promise.resolve([`would not run: ${limit.error}`]);
      return Promise.resolve([
        `run ${JSON.stringify(buildArgv(config, limit.host, VARS_FILE_PLACEHOLDER))}`,
        `with extra var ${RESERVED_VAR} (not templated) = ${JSON.stringify(ansibleContext(alert))}`,
      ]);
    },
    refusal: (alert) => {
      const limit = limitFor(config.limit_from_tag, alert);
      return limit.ok ? undefined : limit.error;
    },
    run,
  };
}
