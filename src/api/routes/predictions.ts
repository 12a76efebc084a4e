import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { durationParam } from "../params.js";
import { problemResponses } from "../problem.js";
import { predictionSchema } from "../schemas.js";
import type { ApiDeps } from "../server.js";

const predictionQuery = z.strictObject({
  host: z.string().optional().describe("Only predictions for this host tag."),
  rule: z.string().optional().describe("Only predictions of this rule, e.g. disk_full_24h."),
  resource: z.string().optional().describe("Only predictions about this kind of resource: the source measurement, e.g. disk, procstat, x509_cert."),
  within: durationParam.optional().describe("Only predictions reaching the threshold within this time, e.g. 24h."),
});

export function registerPredictionRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Sorted by ETA, nearest first; predictions that never reach the threshold come last.
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/predictions",
    {
      config: { scope: "read", hint: "Use ?host=web-01&resource=disk&rule=disk_full_24h&within=24h." },
      schema: {
        tags: ["predictions"],
        operationId: "listPredictions",
        summary: "Predictions with their bounds and model, nearest ETA first.",
        querystring: predictionQuery,
        response: { 200: z.object({ predictions: z.array(predictionSchema) }), ...problemResponses },
      },
    },
    async (req) => {
      const { host, rule, resource, within } = req.query;
      const nowMs = deps.clock.nowMs();
      const predictions = deps.analysis
        .predictions()
        .filter((p) => host === undefined || p.tags.host === host)
        .filter((p) => rule === undefined || p.rule === rule)
        .filter((p) => resource === undefined || p.measurement === resource)
        .filter((p) => within === undefined || (p.etaMs !== null && p.etaMs <= nowMs + within));
      return { predictions };
    },
  );
}
