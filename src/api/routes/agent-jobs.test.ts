import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AgentRegistry } from "../../collector/ingest/agents.js";
import { JobQueue } from "../../remediator/jobs.js";
import { testAlert } from "../../remediator/test-alert.js";
import { registerProblemHandlers } from "../problem.js";
import { registerAgentJobRoutes } from "./agent-jobs.js";

const log = pino({ level: "silent" });
const TOKEN_1 = "token-web-01-0123456789abcdef";
const TOKEN_2 = "token-web-02-0123456789abcdef";

function setup(): { app: FastifyInstance; jobs: JobQueue; resumed: string[] } {
  const clock = { nowMs: () => 1_000_000 };
  const agents = new AgentRegistry([{ name: "web-01", token: TOKEN_1, labels: {} }, { name: "web-02", token: TOKEN_2, labels: {} }], 60_000, 0);
  const jobs = new JobQueue({ clock, log, timeoutMs: 60_000 });
  const resumed: string[] = [];
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app, log);
  registerAgentJobRoutes(app, {
    agents,
    jobs,
    remediator: { storm: () => undefined, resume: (by) => (resumed.push(by), true) },
    log,
  });
  return { app, jobs, resumed };
}

const auth = (token: string) => ({ authorization: `Token ${token}` });

describe("agent job routes", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => app?.close());

  it.each([
    { name: "no token", headers: {}, url: "/api/v1/agents/web-01/jobs?wait=1s", status: 401 },
    { name: "an API-looking token", headers: auth("not-an-agent-token-000000"), url: "/api/v1/agents/web-01/jobs?wait=1s", status: 401 },
    { name: "another agent's jobs", headers: auth(TOKEN_2), url: "/api/v1/agents/web-01/jobs?wait=1s", status: 403 },
    { name: "a bad wait", headers: auth(TOKEN_1), url: "/api/v1/agents/web-01/jobs?wait=soon", status: 400 },
  ])("refuses $name", async ({ headers, url, status }) => {
    const s = setup();
    app = s.app;
    const res = await app.inject({ method: "GET", url, headers });
    expect(res.statusCode).toBe(status);
  });

  it("hands a job to its agent, takes one ack and one result", async () => {
    const s = setup();
    app = s.app;
    const result = s.jobs.submit("web-01", { runId: "run1", action: "heal", alert: testAlert({ host: "web-01" }), attempt: 1 }, new AbortController().signal);
    const polled = await app.inject({ method: "GET", url: "/api/v1/agents/web-01/jobs?wait=1s", headers: auth(TOKEN_1) });
    expect(polled.statusCode).toBe(200);
    const jobs = (polled.json() as { jobs: Array<{ id: string; action: string; alert: { tags: Record<string, string> } }> }).jobs;
    expect(jobs.map((j) => [j.id, j.action, j.alert.tags.host])).toEqual([["run1.1", "heal", "web-01"]]);

    const ack = (token: string) => app!.inject({ method: "POST", url: "/api/v1/agents/web-01/jobs/run1.1/ack", headers: auth(token) });
    expect((await ack(TOKEN_2)).statusCode).toBe(403);
    expect((await ack(TOKEN_1)).json()).toEqual({ status: "acked" });
    expect((await ack(TOKEN_1)).json()).toEqual({ status: "taken" });

    const body = { ok: true, exitCode: 0, durationMs: 12, outputTail: "done" };
    const post = () => app!.inject({ method: "POST", url: "/api/v1/agents/web-01/jobs/run1.1/result", headers: auth(TOKEN_1), payload: body });
    expect((await post()).json()).toEqual({ status: "accepted" });
    expect((await post()).json()).toEqual({ status: "duplicate" });
    expect(await result).toMatchObject({ ...body, details: { agent: "web-01" } });

    const unknown = await app.inject({ method: "POST", url: "/api/v1/agents/web-01/jobs/nope.1/result", headers: auth(TOKEN_1), payload: body });
    expect(unknown.statusCode).toBe(404);
  });

  it("answers an empty long poll after the wait", async () => {
    const s = setup();
    app = s.app;
    const res = await app.inject({ method: "GET", url: "/api/v1/agents/web-02/jobs?wait=1s", headers: auth(TOKEN_2) });
    expect(res.json()).toEqual({ jobs: [] });
  });

  it("resumes automatic actions for a person", async () => {
    const s = setup();
    app = s.app;
    const res = await app.inject({ method: "POST", url: "/api/v1/actions/resume", payload: { by: "ops" } });
    expect(res.json()).toEqual({ resumed: true });
    expect(s.resumed).toEqual(["ops"]);
  });
});
