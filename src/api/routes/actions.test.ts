import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../core/contracts.js";
import { remediationConfigSchema } from "../../remediator/config.js";
import { Journal } from "../../remediator/journal.js";
import { createRemediator, type Remediator } from "../../remediator/remediator.js";
import { Silences } from "../../remediator/silences.js";
import { testAlert } from "../../remediator/test-alert.js";
import { registerProblemHandlers } from "../problem.js";
import { registerActionRoutes } from "./actions.js";

const log = pino({ level: "silent" });
const opened: Array<{ app: FastifyInstance; remediator: Remediator; journal: Journal }> = [];

afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.app.close();
    await o.remediator.close();
    o.journal.close();
  }
});

async function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-routes-"));
  const runs = mkdtempSync(path.join(tmpdir(), "ansai-routes-runs-"));
  const now = 1_714_564_800_000;
  const clock: Clock = { nowMs: () => now };
  const config = remediationConfigSchema.parse({
    enabled: true,
    approval: "required",
    actions: [{ name: "mark", on: { rule: "process_memory_limit", tags: {} }, type: "exec", argv: ["mktemp", "-p", runs] }],
  });
  const journal = Journal.open(dir, log);
  const silences = Silences.open(dir, log);
  const remediator = createRemediator({ config, journal, clock, log, env: process.env, dataDir: dir, silences });
  const app = Fastify({ logger: false });
  // As buildApi does: zod schemas validate and serialize, errors are problem documents.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app, log);
  registerActionRoutes(app, { journal, remediator, silences, clock });
  opened.push({ app, remediator, journal });
  remediator.handle([testAlert({ pid: "1" }), testAlert({ pid: "2" })]);
  await remediator.idle();
  return { app, remediator, runs, now };
}

describe("action routes", () => {
  it("GET /api/v1/actions filters the journal", async () => {
    const { app } = await setup();
    const all = await app.inject({ url: "/api/v1/actions" });
    expect(all.statusCode).toBe(200);
    expect(all.json<{ actions: unknown[] }>().actions).toHaveLength(4);
    const waiting = await app.inject({ url: "/api/v1/actions?kind=awaiting_approval&target=procstat,pid=2%20memory_rss" });
    expect(waiting.json()).toMatchObject({ actions: [{ kind: "awaiting_approval", target: "procstat,pid=2 memory_rss" }] });
    const bad = await app.inject({ url: "/api/v1/actions?kind=nope" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "ANSAI_QUERY_INVALID" });
  });

  it("pending, approve, reject; a second answer is a 404 with the code", async () => {
    const { app, remediator, runs } = await setup();
    const pending = (await app.inject({ url: "/api/v1/actions/pending" })).json<{ pending: Array<{ runId: string }> }>().pending;
    expect(pending).toHaveLength(2);
    const [a, b] = pending.map((p) => p.runId);
    const approved = await app.inject({ method: "POST", url: `/api/v1/actions/${a}/approve`, payload: { by: "alice" } });
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toEqual({ runId: a, outcome: "started" });
    const noReason = await app.inject({ method: "POST", url: `/api/v1/actions/${b}/reject`, payload: { by: "bob" } });
    expect(noReason.statusCode).toBe(400);
    const rejected = await app.inject({ method: "POST", url: `/api/v1/actions/${b}/reject`, payload: { by: "bob", reason: "no" } });
    expect(rejected.json()).toEqual({ runId: b, outcome: "rejected" });
    const again = await app.inject({ method: "POST", url: `/api/v1/actions/${a}/approve`, payload: {} });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: "ANSAI_ACTION_NOT_PENDING" });
    await remediator.idle();
    expect(readdirSync(runs)).toHaveLength(1);
    expect((await app.inject({ url: "/api/v1/actions/pending" })).json()).toEqual({ pending: [] });
  });

  it("silences: create, list, use, delete", async () => {
    const { app, remediator, now } = await setup();
    const created = await app.inject({
      method: "POST",
      url: "/api/v1/silences",
      payload: { matchers: { rule: "process_memory_limit", tags: { pid: "/3|4/" } }, duration: "2h", comment: "deploy", created_by: "alice" },
    });
    expect(created.statusCode).toBe(201);
    const silence = created.json<{ silence: { id: string; endsAtMs: number } }>().silence;
    expect(silence.endsAtMs).toBe(now + 2 * 3_600_000);
    expect((await app.inject({ url: "/api/v1/silences" })).json()).toMatchObject({ silences: [{ id: silence.id, comment: "deploy" }] });
    remediator.handle([testAlert({ pid: "3" })]);
    await remediator.idle();
    const suppressed = (await app.inject({ url: "/api/v1/actions?kind=suppressed" })).json<{ actions: Array<{ reason: string }> }>().actions;
    expect(suppressed.map((r) => r.reason)).toEqual(["silenced"]);
    expect((await app.inject({ method: "DELETE", url: `/api/v1/silences/${silence.id}` })).statusCode).toBe(204);
    const gone = await app.inject({ method: "DELETE", url: `/api/v1/silences/${silence.id}` });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: "ANSAI_SILENCE_NOT_FOUND" });
    const empty = await app.inject({ method: "POST", url: "/api/v1/silences", payload: { matchers: {}, duration: "1h" } });
    expect(empty.statusCode).toBe(400);
  });
});
