import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { badQuery } from "../problem.js";
import { describeParamIssues } from "../params.js";
import type { ApiDeps } from "../server.js";

const actionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  since: z.coerce.number().int().min(0).optional(),
});

export function registerActionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // The audit journal, newest last.
  app.get("/api/v1/actions", async (req) => {
    const parsed = actionsQuery.safeParse(req.query);
    if (!parsed.success) throw badQuery(describeParamIssues(parsed.error), "Use ?limit=100&since=<epoch ms>.");
    return { actions: deps.journal.read({ limit: parsed.data.limit, sinceMs: parsed.data.since }) };
  });
}
