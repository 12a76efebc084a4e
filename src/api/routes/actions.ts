import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Clock } from "../../core/contracts.js";
import { AnsaiError, ErrorCodes } from "../../core/errors.js";
import { JOURNAL_KINDS, type JournalQuery, type JournalRecord } from "../../remediator/journal.js";
import type { ApprovalOutcome, Remediator } from "../../remediator/remediator.js";
import { silenceMatchersSchema, type Silence, type SilenceInput } from "../../remediator/silences.js";
import { ApiError, problemResponses } from "../problem.js";
import { durationParam } from "../params.js";

/** What the journal, approval and silence routes use. */
export interface ActionRouteDeps {
  journal: { read(query: JournalQuery): JournalRecord[] };
  remediator: Pick<Remediator, "pending" | "approve" | "reject" | "breakers">;
  silences: { add(input: SilenceInput, nowMs: number): Silence; remove(id: string): boolean; list(nowMs?: number): Silence[] };
  clock: Clock;
}

// The journal's own list: a new record kind shows up here without a second edit.
const KINDS = JOURNAL_KINDS;

const actionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).default(100).describe("The newest this many matching records."),
  since: z.coerce.number().int().min(0).optional().describe("Records at or after this time (epoch ms)."),
  action: z.string().min(1).optional().describe("Only this action's records."),
  target: z.string().min(1).optional().describe("Only records on this target."),
  kind: z.enum(KINDS).optional().describe("Only records of this kind."),
  run: z.string().min(1).optional().describe("Only the records of this run id."),
});

// Records differ per kind; the common keys are named, the rest passes through.
const journalRecordSchema = z
  .looseObject({
    id: z.string(),
    timeMs: z.number().describe("When (epoch ms)."),
    runId: z.string().describe("Shared by every record of one run; the id approvals take."),
    action: z.string(),
    rule: z.string(),
    alertId: z.string(),
    target: z.string().describe("What the action acts on."),
    dryRun: z.boolean(),
    kind: z.enum(KINDS),
  })
  .describe("One decision of the remediator; further keys depend on the kind (see src/remediator/journal.ts).");

const pendingSchema = z.object({
  runId: z.string(),
  action: z.string(),
  target: z.string(),
  rule: z.string(),
  alertId: z.string(),
  summary: z.string(),
  preview: z.array(z.string()).describe("Exactly what the run would do."),
  requestedAtMs: z.number(),
  expiresAtMs: z.number(),
});

const breakerSchema = z.object({ action: z.string(), target: z.string(), openedAtMs: z.number(), untilMs: z.number(), failures: z.number().int() });

const outcomeSchema = z.object({
  runId: z.string(),
  outcome: z.enum(["started", "queued", "suppressed", "rejected"]),
  reason: z.string().optional(),
  detail: z.string().optional(),
});

const silenceSchema = z.object({
  id: z.string(),
  matchers: z.object({ rule: z.string().optional(), tags: z.record(z.string(), z.string()) }),
  comment: z.string().optional(),
  createdBy: z.string(),
  createdAtMs: z.number(),
  endsAtMs: z.number(),
});

const byField = z.string().min(1).max(200).optional().describe("Who answers; default: the token's name, else api.");
const approveBody = z.strictObject({ by: byField }).optional();
const rejectBody = z.strictObject({ by: byField, reason: z.string().min(1).max(2000).describe("Why; kept in the journal.") });

const silenceBody = z
  .strictObject({
    matchers: silenceMatchersSchema,
    comment: z.string().max(2000).optional(),
    created_by: z.string().min(1).max(200).optional().describe("Who; default: the token's name, else api."),
    ends_at: z.number().int().min(0).optional().describe("End (epoch ms); or give duration."),
    duration: durationParam.optional().describe("How long from now, e.g. 2h; or give ends_at."),
  })
  .refine((b) => (b.ends_at === undefined) !== (b.duration === undefined), { message: "give exactly one of ends_at (epoch ms) and duration (e.g. 2h)" })
  .refine((b) => b.matchers.rule !== undefined || Object.keys(b.matchers.tags).length > 0, {
    message: "a silence needs a rule or at least one tag matcher; an empty one would silence everything",
  });

const idParams = z.strictObject({ id: z.string().min(1) });

/** The remediation journal, approvals, breakers and silences. */
export function registerActionRoutes(app: FastifyInstance, deps: ActionRouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const schema = (operationId: string, summary: string) => ({ tags: ["actions"], operationId, summary });

  api.get(
    "/api/v1/actions",
    {
      config: { scope: "read", hint: "Use ?limit=100&since=<epoch ms>&action=NAME&target=T&kind=finished&run=RUN_ID." },
      schema: {
        ...schema("listActions", "The audit journal, oldest first: every plan, decision, run, verification and approval."),
        querystring: actionsQuery,
        response: { 200: z.object({ actions: z.array(journalRecordSchema) }), ...problemResponses },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        actions: deps.journal.read({
          limit: q.limit,
          ...(q.since === undefined ? {} : { sinceMs: q.since }),
          ...(q.action === undefined ? {} : { action: q.action }),
          ...(q.target === undefined ? {} : { target: q.target }),
          ...(q.kind === undefined ? {} : { kind: q.kind }),
          ...(q.run === undefined ? {} : { runId: q.run }),
        }),
      };
    },
  );

  api.get(
    "/api/v1/actions/pending",
    {
      config: { scope: "read" },
      schema: { ...schema("listPendingActions", "Runs waiting for a person's approval, with what each would do."), response: { 200: z.object({ pending: z.array(pendingSchema) }), ...problemResponses } },
    },
    async () => ({ pending: deps.remediator.pending() }),
  );

  api.get(
    "/api/v1/actions/breakers",
    {
      config: { scope: "read" },
      schema: { ...schema("listBreakers", "Circuit breakers open now: actions disabled on a target after repeated failures."), response: { 200: z.object({ breakers: z.array(breakerSchema) }), ...problemResponses } },
    },
    async () => ({ breakers: deps.remediator.breakers() }),
  );

  api.post(
    "/api/v1/actions/:id/approve",
    {
      config: { scope: "admin", hint: 'POST /api/v1/actions/RUN_ID/approve with {"by": "your name"}.' },
      schema: { ...schema("approveAction", "Approve a waiting run; it runs if the policy, asked again, allows."), params: idParams, body: approveBody, response: { 200: outcomeSchema, ...problemResponses } },
    },
    async (req): Promise<ApprovalOutcome> => notPending(() => deps.remediator.approve(req.params.id, req.body?.by ?? who(req))),
  );

  api.post(
    "/api/v1/actions/:id/reject",
    {
      config: { scope: "admin", hint: 'POST /api/v1/actions/RUN_ID/reject with {"by": "your name", "reason": "why"}.' },
      schema: { ...schema("rejectAction", "Reject a waiting run."), params: idParams, body: rejectBody, response: { 200: outcomeSchema, ...problemResponses } },
    },
    async (req) =>
      notPending(() => {
        deps.remediator.reject(req.params.id, req.body.by ?? who(req), req.body.reason);
        return { runId: req.params.id, outcome: "rejected" as const };
      }),
  );

  api.get(
    "/api/v1/silences",
    {
      config: { scope: "read" },
      schema: { ...schema("listSilences", "Silences in force: matching alerts trigger no action."), response: { 200: z.object({ silences: z.array(silenceSchema) }), ...problemResponses } },
    },
    async () => ({ silences: deps.silences.list(deps.clock.nowMs()) }),
  );

  api.post(
    "/api/v1/silences",
    {
      config: { scope: "admin", hint: 'Send {"matchers": {"rule": "disk_full_4h", "tags": {"host": "web-01"}}, "duration": "2h", "comment": "why"}.' },
      schema: { ...schema("createSilence", "Silence alerts matching a rule and tags until a time."), body: silenceBody, response: { 201: z.object({ silence: silenceSchema }), ...problemResponses } },
    },
    async (req, reply) => {
      const nowMs = deps.clock.nowMs();
      const b = req.body;
      const silence = deps.silences.add(
        {
          matchers: b.matchers,
          createdBy: b.created_by ?? who(req),
          endsAtMs: b.ends_at ?? nowMs + (b.duration ?? 0),
          ...(b.comment === undefined ? {} : { comment: b.comment }),
        },
        nowMs,
      );
      return reply.code(201).send({ silence });
    },
  );

  api.delete(
    "/api/v1/silences/:id",
    {
      config: { scope: "admin" },
      schema: { ...schema("deleteSilence", "Remove a silence."), params: idParams, response: { 204: z.undefined().describe("Removed."), ...problemResponses } },
    },
    async (req, reply) => {
      if (!deps.silences.remove(req.params.id)) {
        throw new ApiError(404, ErrorCodes.SILENCE_NOT_FOUND, `no silence ${req.params.id}`, "List silences with GET /api/v1/silences.");
      }
      return reply.code(204).send();
    },
  );
}

/** The token's holder when tokens are configured. */
function who(req: FastifyRequest): string {
  return req.principal?.name ?? "api";
}

/** A run that no longer waits is a 404 that keeps the error's hint. */
function notPending<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof AnsaiError && err.code === ErrorCodes.ACTION_NOT_PENDING) throw new ApiError(404, err.code, err.message, err.hint);
    throw err;
  }
}
