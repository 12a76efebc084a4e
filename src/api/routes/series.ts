import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { tagParams } from "../params.js";
import { problemResponses } from "../problem.js";
import { seriesInfoSchema } from "../schemas.js";
import type { ApiDeps } from "../server.js";

// Loose: tag filters arrive as any number of `tag.<key>=<value>` parameters.
const seriesQuery = z
  .looseObject({
    measurement: z.string().optional().describe("Only series of this measurement, e.g. disk."),
    field: z.string().optional().describe("Only series of this field, e.g. used_percent."),
    limit: z.coerce.number().int().min(1).max(100_000).default(1000).describe("Most series returned."),
  })
  .describe("Plus any number of tag.<key>=<value> filters, e.g. tag.host=web-01.");

export function registerSeriesRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/series",
    {
      config: { scope: "read", hint: "Use ?measurement=disk&field=used_percent&tag.host=web-01&limit=100." },
      schema: {
        tags: ["series"],
        operationId: "listSeries",
        summary: "Series the store holds, by measurement, field and tags (tag.<key>=<value>), with their cardinality.",
        querystring: seriesQuery,
        response: {
          200: z.object({
            cardinality: z.number().int().describe("How many series match, before the limit."),
            truncated: z.boolean().describe("True when more series match than were returned (raise limit)."),
            series: z.array(seriesInfoSchema),
          }),
          ...problemResponses,
        },
      },
    },
    async (req) => {
      const { measurement, field, limit } = req.query;
      const matching = await deps.store.listSeries({ measurement, field, tags: tagParams(req.query) });
      return { cardinality: matching.length, truncated: matching.length > limit, series: matching.slice(0, limit) };
    },
  );
}
