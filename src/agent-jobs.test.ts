import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startAgentJobs, type AgentJobs } from "./agent-jobs.js";
import { registerAgentJobRoutes } from "./api/routes/agent-jobs.js";
import { registerProblemHandlers } from "./api/problem.js";
import { AgentRegistry } from "./collector/ingest/agents.js";
import { systemClock } from "./core/contracts.js";
import { remediationConfigSchema } from "./remediator/config.js";
import { JobQueue } from "./remediator/jobs.js";
import { testAlert } from "./remediator/test-alert.js";
import { freePort } from "../test/support/ports.js";

const log = pino({ level: "silent" });
const TOKEN = "token-web-01-0123456789abcdef";

/** A server with only the agent-job routes, for agent web-01; jobs fail after `timeoutMs`. */
async function serve(port: number, timeoutMs = 20_000): Promise<{ app: FastifyInstance; jobs: JobQueue }> {
  const jobs = new JobQueue({ clock: systemClock, log, timeoutMs });
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app, log);
  registerAgentJobRoutes(app, { agents: new AgentRegistry([{ name: "web-01", token: TOKEN, labels: {} }], 60_000, 0), jobs, remediator: { storm: () => undefined, resume: () => false }, log });
  await app.listen({ host: "127.0.0.1", port });
  return { app, jobs };
}

/** An agent whose own config declares one action, `touch`, that leaves a file per run in `dir`; `extra` adds to its remediation section. */
function agent(serverUrl: string, dir: string, enabled: boolean, extra: Record<string, unknown> = {}): AgentJobs {
  const remediation = remediationConfigSchema.parse({
    enabled,
    actions: [{ name: "touch", on: { rule: "process_memory_limit" }, type: "exec", argv: ["mktemp", "-p", dir] }],
    ...extra,
  });
  return startAgentJobs({ serverUrl, token: TOKEN, name: "web-01", remediation, env: process.env, dataDir: dir, clock: systemClock, log, waitMs: 2_000, maxBackoffMs: 500 });
}

describe("the agent's job loop", () => {
  const open: Array<{ stop(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.stop();
  });

  const always = [
    { start: "00:00", end: "23:59" },
    { start: "23:59", end: "00:00" },
  ]; // the whole day
  it.each([
    { case: "a declared action, remediation enabled", action: "touch", enabled: true, extra: {}, ok: true, error: undefined, files: 1 },
    { case: "a name the agent does not declare", action: "rm_everything", enabled: true, extra: {}, ok: false, error: /declares no action "rm_everything"/, files: 0 },
    { case: "its own remediation.enabled false", action: "touch", enabled: false, extra: {}, ok: false, error: /remediation.enabled is false on agent web-01/, files: 0 },
    { case: "its own maintenance window", action: "touch", enabled: true, extra: { maintenance: always }, ok: false, error: /agent web-01 refuses \(maintenance\): inside the maintenance window/, files: 0 },
    { case: "its own allow.targets", action: "touch", enabled: true, extra: { allow: { targets: ["nginx.*"] } }, ok: false, error: /agent web-01 refuses \(not_allowed\): target .* matches none of remediation.allow.targets/, files: 0 },
    { case: "its own allow.hosts", action: "touch", enabled: true, extra: { allow: { hosts: ["db-.*"] } }, ok: false, error: /agent web-01 refuses \(not_allowed\): host web-01 matches none/, files: 0 },
  ])("$case: ok $ok, $files runs", async ({ action, enabled, extra, ok, error, files }) => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-agent-jobs-"));
    const port = await freePort();
    const server = await serve(port);
    open.push({ stop: () => server.app.close() });
    open.unshift(agent(`http://127.0.0.1:${port}`, dir, enabled, extra));
    const result = await server.jobs.submit("web-01", { runId: "r", action, alert: testAlert({ host: "web-01", note: "$(touch pwned)" }), attempt: 1 }, new AbortController().signal);
    expect(result.ok).toBe(ok);
    if (error !== undefined) expect(result.error).toMatch(error);
    expect(readdirSync(dir).filter((f) => f.startsWith("tmp."))).toHaveLength(files);
    expect(existsSync(path.join(process.cwd(), "pwned"))).toBe(false);
  });

  it("keeps asking through a server outage, then takes and runs the job once", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-agent-jobs-"));
    const port = await freePort();
    open.push(agent(`http://127.0.0.1:${port}`, dir, true));
    // Nothing listens yet: the agent retries with backoff.
    await new Promise((r) => setTimeout(r, 1_500));
    const server = await serve(port);
    open.push({ stop: () => server.app.close() });
    const result = await server.jobs.submit("web-01", { runId: "late", action: "touch", alert: testAlert({ host: "web-01" }), attempt: 1 }, new AbortController().signal);
    expect(result).toMatchObject({ ok: true, details: { agent: "web-01" } });
    await new Promise((r) => setTimeout(r, 500));
    expect(readdirSync(dir).filter((f) => f.startsWith("tmp."))).toHaveLength(1);
  });
});

describe("a job past its deadline", () => {
  it("is stopped at the deadline, so a retry the server starts after giving up never runs beside it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-agent-jobs-"));
    const port = await freePort();
    const { app, jobs } = await serve(port, 1_500);
    const remediation = remediationConfigSchema.parse({ enabled: true, actions: [{ name: "slow", on: { rule: "process_memory_limit" }, type: "exec", argv: ["sleep", "60"] }] });
    const worker = startAgentJobs({ serverUrl: `http://127.0.0.1:${port}`, token: TOKEN, name: "web-01", remediation, env: process.env, dataDir: dir, clock: systemClock, log, waitMs: 1_000, maxBackoffMs: 500 });
    try {
      // Nobody calls jobs.tick here: the job settles only when the agent reports, which it must do at the deadline.
      const result = await jobs.submit("web-01", { runId: "slow", action: "slow", alert: testAlert({ host: "web-01" }), attempt: 1 }, new AbortController().signal);
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/deadline/);
    } finally {
      await worker.stop();
      await app.close();
    }
  }, 30_000);
});
