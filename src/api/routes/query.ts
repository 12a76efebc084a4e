import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseSeriesKey } from "../../core/point.js";
import { badQuery } from "../problem.js";
import { describeParamIssues, durationParam, resolveTime, timeParam } from "../params.js";
import type { ApiDeps } from "../server.js";

const rangeQuery = z.strictObject({
  series: z.string().min(1),
  start: timeParam.optional(),
  end: timeParam.optional(),
  step: durationParam.optional(),
  aggregate: z.enum(["mean", "min", "max", "last", "count", "sum"]).default("mean"),
});

/** Enough buckets for a chart, few enough to stay cheap. */
const DEFAULT_BUCKETS = 300;

export function registerQueryRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get("/api/v1/query", async (req) => {
    const parsed = rangeQuery.safeParse(req.query);
    const hint = 'Use ?series=<key from /api/v1/series>&start=-1h&end=<now>&step=1m&aggregate=mean (start/end: epoch ms, RFC 3339 or "-1h").';
    if (!parsed.success) throw badQuery(describeParamIssues(parsed.error), hint);
    const q = parsed.data;
    if (!parseSeriesKey(q.series)) throw badQuery(`"${q.series}" is not a series key such as "disk,host=h,path=/ used_percent"`, hint);
    const nowMs = deps.clock.nowMs();
    const endMs = resolveTime(q.end, nowMs, nowMs);
    const startMs = resolveTime(q.start, nowMs, endMs - 3_600_000);
    if (startMs >= endMs) throw badQuery(`start (${new Date(startMs).toISOString()}) is not before end (${new Date(endMs).toISOString()})`, hint);
    const stepMs = q.step ?? Math.max(1000, Math.ceil((endMs - startMs) / DEFAULT_BUCKETS / 1000) * 1000);
    if ((endMs - startMs) / stepMs > 100_000) throw badQuery("the range holds more than 100000 steps", "Use a larger step or a shorter range.");
    const samples = await deps.store.query({ series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate });
    return { series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate, samples };
  });
}
