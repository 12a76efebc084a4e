import type { Logger } from "pino";
import { z } from "zod";
import { duration, durationMs, tagMatchers } from "../../config/zod-types.js";
import type { Action, Clock } from "../../core/contracts.js";
import { ansibleActionSchema, createAnsibleAction } from "./ansible.js";
import { cleanupActionSchema, createCleanupAction } from "./cleanup.js";
import { createExecAction, execActionSchema } from "./exec.js";
import { createRenewCertificateAction, renewCertificateActionSchema } from "./renew-certificate.js";
import { createRestartAction, restartActionSchema } from "./restart.js";
import { createWebhookAction, webhookActionSchema } from "./webhook.js";

/** Keys every action has, whatever its type. */
export const actionCommonKeys = z.strictObject({
  name: z.string().min(1).describe("Unique name of the action: shown in the journal, the API and `ansai actions`; escalate_to refers to it."),
  on: z
    .strictObject({
      rule: z.string().min(1).describe("Rule whose firing alerts trigger this action."),
      tags: tagMatchers.describe('Tag matchers: an exact value, or "/regex/".'),
    })
    .describe("Which alerts trigger the action."),
  dry_run: z.boolean().optional().describe("Force dry-run for this action even when remediation is enabled."),
  approval: z.boolean().optional().describe("true: wait for a person's approval before each run (its retries go on without asking; an escalation asks again); false: never wait; unset: remediation.approval decides."),
  verify: z
    .strictObject({
      within: duration.default("10m").describe("The alert must resolve within this long after a successful run, or the run counts as not verified."),
      retries: z.number().int().min(0).default(1).describe("Runs tried again after a failed or not verified run, before escalating."),
      backoff: duration.default("2m").describe("Wait before the first retry; doubles for each further retry."),
    })
    .optional()
    .describe("Check that the action healed: without it a run that exits 0 is taken as success."),
  escalate_to: z.string().min(1).optional().describe("Name of the action run when this one fails or is not verified after its retries; without it a person is alerted (rule remediation_failed)."),
});

/**
 * Every action's config: the common keys plus one type's keys. The explicit registry of schemas:
 * one line per action type.
 */
export const actionConfigSchema = z.discriminatedUnion("type", [
  actionCommonKeys.extend(execActionSchema.shape),
  // Their own cross-key checks (exactly one target kind, paths inside roots) must survive: extend them.
  restartActionSchema.extend(actionCommonKeys.shape),
  cleanupActionSchema.extend(actionCommonKeys.shape),
  actionCommonKeys.extend(ansibleActionSchema.shape),
  actionCommonKeys.extend(webhookActionSchema.shape),
  actionCommonKeys.extend(renewCertificateActionSchema.shape),
]);

export type ActionConfig = z.output<typeof actionConfigSchema>;

/** What actions may need from the process that runs them; passed in, never reached through globals. */
export interface ActionDeps {
  /** Environment handed to programs (PATH, HOME, ...); the CLI passes process.env. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where ANSAI keeps its state (e.g. for extra-vars files). */
  dataDir: string;
  clock: Clock;
  log: Logger;
}

/** The explicit registry of implementations: one case per action type. */
export function createAction(spec: ActionConfig, deps: ActionDeps): Action {
  switch (spec.type) {
    case "exec":
      return createExecAction({ argv: spec.argv, timeoutMs: durationMs(spec.timeout), baseEnv: deps.env });
    case "restart":
      return createRestartAction(spec, { baseEnv: deps.env });
    case "cleanup":
      return createCleanupAction(spec, { baseEnv: deps.env, clock: deps.clock });
    case "ansible":
      return createAnsibleAction(spec, { baseEnv: deps.env });
    case "webhook":
      return createWebhookAction(spec, { baseEnv: deps.env, name: spec.name });
    case "renew_certificate":
      return createRenewCertificateAction(spec, { baseEnv: deps.env });
  }
}
