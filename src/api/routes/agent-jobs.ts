import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { z } from "zod";
import type { AgentSpec } from "../../collector/ingest/agents.js";
import { ErrorCodes } from "../../core/errors.js";
import type { JobQueue } from "../../remediator/jobs.js";
import { actionResultSchema, agentJobSchema } from "../../remediator/jobs.js";
import type { Remediator } from "../../remediator/remediator.js";
import { requestToken } from "../auth.js";
import { durationParam } from "../params.js";
import { ApiError, problemResponses } from "../problem.js";

/** What the agent job routes and the storm routes use. */
export interface AgentJobRouteDeps {
  /** Agent tokens, checked exactly as agent pushes are. */
  agents: { authenticate(token: string): AgentSpec | undefined };
  jobs: Pick<JobQueue, "poll" | "ack" | "report" | "close">;
  remediator: Pick<Remediator, "storm" | "resume">;
  log: Logger;
  /** Longest long-poll wait (ms); default 60 s. */
  maxWaitMs?: number;
}

const DEFAULT_WAIT_MS = 20_000;

const nameParams = z.strictObject({ name: z.string().min(1).describe("The agent's name (server.agents[].name).") });
const jobParams = nameParams.extend({ id: z.string().min(1).max(200).describe("The job id.") });
const pollQuery = z.strictObject({ wait: durationParam.optional().describe("Long poll: answer as soon as there is a job, or empty after this long (default 20s).") });
const stormSchema = z.object({ sinceMs: z.number(), hosts: z.array(z.string()) }).describe("A storm: many hosts firing at once; automatic actions are paused.");
const resumeBody = z.strictObject({ by: z.string().min(1).max(200).optional().describe("Who; default: the token's name, else api.") }).optional();

const unknownJob = (id: string, name: string): ApiError =>
  new ApiError(404, ErrorCodes.API_NOT_FOUND, `no job ${id} for agent ${name}`, "It timed out (remediation.fleet.job_timeout) or the server restarted: do not run it; the server journals the run as failed.");

/**
 * Agents pull their healing work: long-poll for jobs, acknowledge one before running it (so it
 * runs once), report its result. Agent tokens only, each agent its own jobs. Also the storm's
 * state and `resume`.
 */
export function registerAgentJobRoutes(app: FastifyInstance, deps: AgentJobRouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const schema = (operationId: string, summary: string) => ({ tags: ["agents"], operationId, summary });
  const maxWaitMs = deps.maxWaitMs ?? 60_000;
  // Long polls end when the server stops, so closing does not wait for them.
  app.addHook("preClose", async () => deps.jobs.close());

  // After the rate limiter (onRequest), before the body is read: the agent's own token, for its own name.
  const agentOnly = async (req: FastifyRequest): Promise<void> => {
    const agent = deps.agents.authenticate(requestToken(req) ?? "");
    if (agent === undefined) {
      deps.log.warn({ ip: req.ip }, "agent job request with an unknown token refused");
      throw new ApiError(401, ErrorCodes.API_UNAUTHORIZED, "unknown agent token", "Add the agent to the server's server.agents list, or fix the agent's --token.");
    }
    const name = (req.params as { name?: string }).name;
    if (agent.name !== name) {
      throw new ApiError(403, ErrorCodes.API_FORBIDDEN, `this token belongs to agent ${agent.name}, not ${name}`, `Ask for /api/v1/agents/${agent.name}/jobs: an agent sees only its own jobs.`);
    }
  };

  api.get(
    "/api/v1/agents/:name/jobs",
    {
      config: { scope: "agent", hint: "GET /api/v1/agents/NAME/jobs?wait=20s with the agent's token." },
      preParsing: agentOnly,
      schema: {
        ...schema("pollAgentJobs", "An agent's jobs: answered as soon as there is one, or empty after ?wait. Needs the agent's own token."),
        params: nameParams,
        querystring: pollQuery,
        response: { 200: z.object({ jobs: z.array(agentJobSchema) }), ...problemResponses },
      },
    },
    async (req, reply) => {
      const closed = new AbortController();
      reply.raw.once("close", () => closed.abort());
      const waitMs = Math.min(req.query.wait ?? DEFAULT_WAIT_MS, maxWaitMs);
      return { jobs: await deps.jobs.poll(req.params.name, waitMs, closed.signal) };
    },
  );

  api.post(
    "/api/v1/agents/:name/jobs/:id/ack",
    {
      config: { scope: "agent" },
      preParsing: agentOnly,
      schema: {
        ...schema("ackAgentJob", "The agent takes a job before running it: run it only when the answer is acked (taken: it was taken already)."),
        params: jobParams,
        response: { 200: z.object({ status: z.enum(["acked", "taken"]) }), ...problemResponses },
      },
    },
    async (req) => {
      const status = deps.jobs.ack(req.params.name, req.params.id);
      if (status === "unknown") throw unknownJob(req.params.id, req.params.name);
      return { status };
    },
  );

  api.post(
    "/api/v1/agents/:name/jobs/:id/result",
    {
      config: { scope: "agent" },
      preParsing: agentOnly,
      schema: {
        ...schema("reportAgentJob", "The result of a job; the first one counts, a repeat is answered duplicate."),
        params: jobParams,
        body: actionResultSchema,
        response: { 200: z.object({ status: z.enum(["accepted", "duplicate"]) }), ...problemResponses },
      },
    },
    async (req) => {
      const status = deps.jobs.report(req.params.name, req.params.id, req.body);
      if (status === "unknown") throw unknownJob(req.params.id, req.params.name);
      return { status };
    },
  );

  api.get(
    "/api/v1/actions/storm",
    {
      config: { scope: "read" },
      schema: { ...schema("getStorm", "The fleet-wide storm in progress, if any: automatic actions are paused."), response: { 200: z.object({ storm: stormSchema.nullable() }), ...problemResponses } },
    },
    async () => ({ storm: deps.remediator.storm() ?? null }),
  );

  api.post(
    "/api/v1/actions/resume",
    {
      config: { scope: "admin", hint: 'POST /api/v1/actions/resume with {"by": "your name"}.' },
      schema: {
        ...schema("resumeActions", "End a storm: automatic actions resume. Runs already waiting for approval keep waiting."),
        body: resumeBody,
        response: { 200: z.object({ resumed: z.boolean().describe("false: there was no storm.") }), ...problemResponses },
      },
    },
    async (req) => ({ resumed: deps.remediator.resume(req.body?.by ?? req.principal?.name ?? "api") }),
  );
}
