import { z } from "zod";
import { duration, regex } from "../config/zod-types.js";
import { actionConfigSchema } from "./actions/index.js";

const limit = (max: number, window: string, what: string) =>
  z
    .strictObject({
      max: z.number().int().min(0).default(max).describe(`At most this many runs ${what} within the window.`),
      window: duration.default(window).describe("The sliding window the runs are counted in."),
    })
    .prefault({})
    .describe(`At most max runs ${what} in any window (default ${max} per ${window}).`);

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
/** Day names as the config writes them, Sunday first (index = Date#getDay). */
export const WEEKDAYS: readonly string[] = DAYS;

const hhmm = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day "HH:MM", e.g. "02:30"');

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const maintenanceWindow = z.strictObject({
  days: z.array(z.enum(DAYS)).min(1).optional().describe("Days the window starts on; default every day."),
  start: hhmm.describe('Start, local time of the timezone, "HH:MM".'),
  end: hhmm.describe('End, "HH:MM"; an end before the start crosses midnight (e.g. 22:00–02:00).'),
  timezone: z
    .string()
    .refine(isTimeZone, { message: 'expected an IANA time zone such as "Europe/Paris" or "UTC"' })
    .optional()
    .describe("IANA time zone of start and end; default UTC."),
});

/** The `remediation:` config section: what may heal, and the limits it heals within. */
export const remediationConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Run actions for real; when false every action is only journalled (dry-run)."),
    approval: z
      .enum(["none", "required"])
      .default("none")
      .describe("required: every run waits for a person (`ansai actions approve ID` or the API); an action's own `approval` overrides it."),
    approval_timeout: duration.default("1h").describe("A run still waiting for approval after this long expires and does not run."),
    cooldown: duration.default("30m").describe("Minimum time between two runs of one action on one target."),
    max_actions_per_hour: z.number().int().min(0).optional().describe("Deprecated: use limits.global; when set it replaces limits.global with {max: N, window: 1h}."),
    limits: z
      .strictObject({
        per_target: limit(3, "6h", "on one target (all actions)"),
        per_rule: limit(10, "1h", "for the alerts of one rule"),
        global: limit(20, "1h", "in total"),
      })
      .prefault({})
      .describe("Rate limits, counted over the starts in the journal, so a restart does not reset them."),
    max_concurrent: z.number().int().min(1).default(2).describe("Runs at once; further runs wait their turn and are decided again when a slot frees."),
    maintenance: z.array(maintenanceWindow).default([]).describe("Windows in which no action runs (reason maintenance)."),
    allow: z
      .strictObject({
        hosts: z.array(regex).optional().describe("Regexes (anchored) of hosts actions may act on; unset: any host."),
        targets: z.array(regex).optional().describe("Regexes (anchored) of targets actions may act on, e.g. 'unit:nginx\\.service'; unset: any target."),
      })
      .prefault({})
      .describe("Allow-lists; a run outside them is suppressed (reason not_allowed)."),
    breaker: z
      .strictObject({
        failures: z.number().int().min(1).default(3).describe("Failed or not verified runs of one action on one target that open the breaker."),
        window: duration.default("1h").describe("Window the failures are counted in."),
        open_for: duration.default("6h").describe("How long the action stays disabled on that target once the breaker opens."),
      })
      .prefault({})
      .describe("Circuit breaker: repeated failures disable an action on a target and alert a person."),
    actions: z.array(actionConfigSchema).default([]).describe("Healing actions, each triggered by a rule's firing alerts."),
    fleet: z
      .strictObject({
        group_label: z.string().min(1).default("group").describe("Agent label naming a host's group (server.agents[].labels or agent.labels), e.g. group: web."),
        max_parallel_per_group: z
          .number()
          .int()
          .min(1)
          .default(1)
          .describe("Hosts of one group healed at once (like Ansible's serial); the next waits until a run is verified or failed (reason group_busy)."),
        storm: z
          .strictObject({
            hosts: z.number().int().min(0).default(10).describe("Distinct hosts firing within the window that make a storm; 0 turns storm detection off."),
            window: duration.default("5m").describe("Window the firing hosts are counted in; a storm ends once it has stayed below hosts for a whole window."),
          })
          .prefault({})
          .describe("A storm pauses automatic actions: every new plan waits for a person until POST /api/v1/actions/resume or the storm subsides."),
        job_timeout: duration.default("5m").describe("A job for an agent not picked up and reported within this long finishes as failed."),
      })
      .prefault({})
      .describe("Healing across hosts: runs on agents' hosts are done by those agents; groups are healed one host at a time; storms ask a person."),
  })
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.actions.forEach((a, i) => {
      if (names.has(a.name)) {
        ctx.addIssue({ code: "custom", path: ["actions", i, "name"], message: `action name "${a.name}" is used twice; give each action a unique name` });
      }
      names.add(a.name);
    });
    cfg.actions.forEach((a, i) => {
      if (a.escalate_to === undefined) return;
      if (a.escalate_to === a.name) {
        ctx.addIssue({ code: "custom", path: ["actions", i, "escalate_to"], message: `action "${a.name}" escalates to itself; name another action` });
      } else if (!names.has(a.escalate_to)) {
        ctx.addIssue({ code: "custom", path: ["actions", i, "escalate_to"], message: `escalate_to "${a.escalate_to}" names no action; declare it under remediation.actions or remove escalate_to` });
      }
    });
  })
  .prefault({})
  .describe("Self-healing: actions, their safety limits, approvals and verification.");

export type RemediationConfig = z.output<typeof remediationConfigSchema>;
export type MaintenanceWindow = z.output<typeof maintenanceWindow>;
