import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { parseSeriesKey } from "../../core/point.js";
import type { Aggregate, Samples } from "../../core/contracts.js";
import { durationParam, resolveTime, tagParams, timeParam } from "../params.js";
import { badQuery, problemResponses } from "../problem.js";
import type { ApiDeps } from "../server.js";

const AGGREGATES = ["mean", "min", "max", "last", "count", "sum"] as const;

const rangeQuery = z.strictObject({
  series: z.string().min(1).describe("Series key from /api/v1/series, e.g. `disk,host=h,path=/ used_percent`."),
  start: timeParam.optional().describe('Start: epoch ms, RFC 3339 or relative such as "-1h"; default: an hour before end.'),
  end: timeParam.optional().describe("End: epoch ms, RFC 3339 or relative; default: now."),
  step: durationParam.optional().describe("Bucket width, e.g. 1m; default: about 300 buckets over the range."),
  aggregate: z.enum(AGGREGATES).default("mean").describe("How the points of a bucket are combined."),
  format: z.enum(["json", "csv"]).default("json").describe("json, or csv (time,value) for spreadsheets."),
});

// Loose: tag filters arrive as any number of `tag.<key>=<value>` parameters.
const groupedQuery = z
  .looseObject({
    measurement: z.string().min(1).describe("Measurement, e.g. disk."),
    field: z.string().min(1).describe("Field, e.g. used_percent."),
    group_by: z.string().default("").describe("Comma-separated tags to group by, e.g. host or host,path; empty: one group of every matching series."),
    start: rangeQuery.shape.start,
    end: rangeQuery.shape.end,
    step: rangeQuery.shape.step,
    aggregate: rangeQuery.shape.aggregate,
    format: rangeQuery.shape.format,
  })
  .describe("Plus any number of tag.<key>=<value> filters, e.g. tag.host=web-01.");

const groupedResult = z.object({
  measurement: z.string(),
  field: z.string(),
  groupBy: z.array(z.string()),
  startMs: z.number(),
  endMs: z.number(),
  stepMs: z.number(),
  aggregate: z.enum(AGGREGATES),
  groups: z.array(
    z.object({
      tags: z.record(z.string(), z.string()).describe("The group's values of the group_by tags."),
      series: z.number().int().describe("Series combined in this group."),
      samples: z.array(z.tuple([z.number(), z.number()])),
    }),
  ),
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

/** Start, end and step of a range request, checked. */
function rangeOf(q: { start?: number | { agoMs: number }; end?: number | { agoMs: number }; step?: number }, nowMs: number, hint: string): { startMs: number; endMs: number; stepMs: number } {
  const endMs = resolveTime(q.end, nowMs, nowMs);
  const startMs = resolveTime(q.start, nowMs, endMs - 3_600_000);
  if (startMs >= endMs) throw badQuery(`start (${new Date(startMs).toISOString()}) is not before end (${new Date(endMs).toISOString()})`, hint);
  const stepMs = q.step ?? Math.max(1000, Math.ceil((endMs - startMs) / DEFAULT_BUCKETS / 1000) * 1000);
  if ((endMs - startMs) / stepMs > 100_000) throw badQuery("the range holds more than 100000 steps", "Use a larger step or a shorter range.");
  return { startMs, endMs, stepMs };
}

/**
 * Combines the buckets of a group's series: min and max as such, sum and count added, mean and
 * last averaged across the series (a mean of per-series values, not of raw points).
 */
function combine(all: readonly Samples[], aggregate: Aggregate): Samples {
  const byTime = new Map<number, number[]>();
  for (const samples of all) for (const [t, v] of samples) (byTime.get(t) ?? byTime.set(t, []).get(t)!).push(v);
  const reduce = (vs: number[]): number => {
    if (aggregate === "min") return Math.min(...vs);
    if (aggregate === "max") return Math.max(...vs);
    const sum = vs.reduce((a, b) => a + b, 0);
    return aggregate === "sum" || aggregate === "count" ? sum : sum / vs.length;
  };
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, vs]) => [t, reduce(vs)]);
}

/** CSV with an ISO time column, the given label columns, and the value; labels quoted as RFC 4180 says. */
function toCsv(labels: readonly string[], rows: Array<{ labels: readonly string[]; samples: Samples }>): string {
  const cell = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [["time", ...labels, "value"].map(cell).join(",")];
  for (const row of rows) for (const [t, v] of row.samples) lines.push([new Date(t).toISOString(), ...row.labels, String(v)].map(cell).join(","));
  return `${lines.join("\n")}\n`;
}

/** CSV goes out as text; the JSON schema of the route does not apply to it. */
function sendCsv(reply: FastifyReply, text: string): FastifyReply {
  return reply.type("text/csv; charset=utf-8").send(text);
}

const GROUPED_HINT = "Use ?measurement=disk&field=used_percent&group_by=host&tag.path=/var&start=-6h&step=5m&aggregate=max[&format=csv].";

export function registerQueryRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    "/api/v1/query/grouped",
    {
      config: { scope: "read", hint: GROUPED_HINT },
      schema: {
        tags: ["query"],
        operationId: "queryGrouped",
        summary: "Every series of a measurement and field (tag.<key>=<value> filters), aggregated per step and combined per group of tags; JSON or CSV.",
        querystring: groupedQuery,
        response: { 200: groupedResult, ...problemResponses },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const { startMs, endMs, stepMs } = rangeOf(q, deps.clock.nowMs(), GROUPED_HINT);
      const groupBy = q.group_by.split(",").map((t) => t.trim()).filter(Boolean);
      const matching = await deps.store.listSeries({ measurement: q.measurement, field: q.field, tags: tagParams(q) });
      if (matching.length > 10_000) throw badQuery(`${matching.length} series match; at most 10000 can be combined`, "Narrow the query with tag.<key>=<value> filters.");
      const groups = new Map<string, { tags: Record<string, string>; samples: Samples[] }>();
      for (const info of matching) {
        const tags = Object.fromEntries(groupBy.map((t) => [t, info.tags[t] ?? ""]));
        const key = JSON.stringify(groupBy.map((t) => tags[t]));
        const group = groups.get(key) ?? groups.set(key, { tags, samples: [] }).get(key)!;
        group.samples.push(await deps.store.query({ series: info.key, startMs, endMs, stepMs, aggregate: q.aggregate }));
      }
      const out = [...groups.values()]
        .sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)))
        .map((g) => ({ tags: g.tags, series: g.samples.length, samples: combine(g.samples, q.aggregate) }));
      if (q.format === "csv") {
        return sendCsv(reply, toCsv(groupBy, out.map((g) => ({ labels: groupBy.map((t) => g.tags[t] ?? ""), samples: g.samples }))));
      }
      return { measurement: q.measurement, field: q.field, groupBy, startMs, endMs, stepMs, aggregate: q.aggregate, groups: out };
    },
  );

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
    async (req, reply) => {
      const q = req.query;
      if (!parseSeriesKey(q.series)) throw badQuery(`"${q.series}" is not a series key such as "disk,host=h,path=/ used_percent"`, HINT);
      const { startMs, endMs, stepMs } = rangeOf(q, deps.clock.nowMs(), HINT);
      const samples = await deps.store.query({ series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate });
      if (q.format === "csv") return sendCsv(reply, toCsv([], [{ labels: [], samples }]));
      return { series: q.series, startMs, endMs, stepMs, aggregate: q.aggregate, samples };
    },
  );
}
