import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { badQuery } from "../problem.js";
import { describeParamIssues, tagParams } from "../params.js";
import type { ApiDeps } from "../server.js";

const seriesQuery = z.looseObject({
  measurement: z.string().optional(),
  field: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export function registerSeriesRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get("/api/v1/series", async (req) => {
    const parsed = seriesQuery.safeParse(req.query);
    if (!parsed.success) throw badQuery(describeParamIssues(parsed.error), "Use ?measurement=disk&field=used_percent&tag.host=web-01&limit=100.");
    const { measurement, field, limit } = parsed.data;
    const tags = tagParams(req.query as Record<string, unknown>);
    const series = await deps.store.listSeries({ measurement, field, tags, limit });
    return { series };
  });
}
