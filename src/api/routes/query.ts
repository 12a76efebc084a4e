import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { parseSeriesKey } from "../../core/point.js";
import { durationParam, resolveTime, timeParam } from "../params.js";
import { badQuery, problemResponses } from "../problem.js";
import type { ApiDeps } from "../server.js";

const AGGREGATES = ["mean", "min", "max", "last", "count", "sum"] as const;

const rangeQuery = z.strictObject({
  series: z.string().min(1).describe("Series key from /api/v1/series, e.g. `disk,host=h,path=/ used_percent`."),
  start: timeParam.optional().describe('Start: epoch ms, RFC 3339 or relative such as "-1h"; default: an hour before end.'),
  end: timeParam.optional().describe("End: epoch ms, RFC 3339 or relative; default: now."),
  step: durationParam.optional().describe("Bucket width, e.g. 1m; default: about 300 buckets over the range."),
  aggregate: z.enum(AGGREGATES).default("mean").describe("How the points of a bucket are combined."),
});

const rangeResult = z.object({
  series: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  stepMs: z.number(),
  aggregate: z.enum(AGGREGATES),
  samples: z.array(z.tuple([z.number(), z.number()])).describe("[bucket start (epoch ms), value] pairs, ascending."),
});

/** Enough buckets for a chart, few enough to stay cheap. */
const DEFAULT_BUCKETS = 300;

const HINT = 'Use ?series=<key from /api/v1/series>&start=-1h&end=<now>&step=1m&aggregate=mean (start/end: epoch ms, RFC 3339 or "-1h").';

export function registerQueryRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/query",
    {
      config: { scope: "read", hint: HINT },
      schema: {
        tags: ["query"],
        operationId: "queryRange",
        summary: "One series over a time range, aggregated per step.",
        querystring: rangeQuery,
        response: { 200: rangeResult, ...problemResponses },
      },
    },
    async (req) => {
      const q = req.query;
      if (!parseSeriesKey(q.series)) throw badQuery(`"${q.series}" is not a series key such as "disk,host=h,path=/ used_percent"`, HINT);
      const nowMs = deps.clock.nowMs();
      const endMs = resolveTime(q.end, nowMs, nowMs);
      const startMs = resolveTime(q.start, nowMs, endMs - 3_600_000);
      if (startMs >= endMs) throw badQuery(`start (${new Date(startMs).toISOString()}) is not before end (${new Date(endMs).toISOString()})`, HINT);
      const stepMs = q.step ?? Math.max(1000, Math.ceil((endMs - startMs) / DEFAULT_BUCKETS / 1000) * 1000);
      if ((endMs - startMs) / stepMs > 100_000) throw badQuery("the range holds more than 100000 steps", "Use a larger step or a shorter range.");
      const samples = await deps.store.query({ series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate });
      return { series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate, samples };
    },
  );
}
