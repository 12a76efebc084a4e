import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { badQuery } from "../problem.js";
import { describeParamIssues, durationParam } from "../params.js";
import type { ApiDeps } from "../server.js";

const predictionQuery = z.strictObject({
  host: z.string().optional(),
  rule: z.string().optional(),
  within: durationParam.optional(),
});

export function registerPredictionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Sorted by ETA, nearest first; predictions that never reach the threshold come last.
  app.get("/api/v1/predictions", async (req) => {
    const parsed = predictionQuery.safeParse(req.query);
    if (!parsed.success) throw badQuery(describeParamIssues(parsed.error), "Use ?host=web-01&rule=disk_full_24h&within=24h.");
    const { host, rule, within } = parsed.data;
    const nowMs = deps.clock.nowMs();
    const predictions = deps.analysis
      .predictions()
      .filter((p) => host === undefined || p.tags.host === host)
      .filter((p) => rule === undefined || p.rule === rule)
      .filter((p) => within === undefined || (p.etaMs !== null && p.etaMs <= nowMs + within));
    return { predictions };
  });
}
