import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { z } from "zod";
import type { Clock } from "../../core/contracts.js";
import { selectColumns, type ColumnHead, type PointColumns } from "../../core/columns.js";
import { ownString, type Point } from "../../core/point.js";
import { ApiError } from "../problem.js";
import { influxErrorSchema } from "../schemas.js";
import { type LineError, type LineProtocolLimits, type Precision } from "../../collector/ingest/line-protocol.js";
import { createParsePool, type LineProtocolParser, type ParsedBody } from "../../collector/ingest/parse-pool.js";

/** What the InfluxDB-compatible write endpoints need. */
export interface WriteDeps {
  /** Receives the accepted points of each request (the pipeline). */
  sink(points: readonly Point[]): void;
  /**
   * Receives the accepted points of a body parsed by a worker thread as columns, so no point is
   * rebuilt. Optional: without it those points go to `sink`.
   */
  sinkColumns?(columns: PointColumns): void;
  /**
   * Backpressure: whether the pipeline can take `values` more field values now, and a wait for
   * it to drain. A request waits rather than being acknowledged and then dropped.
   */
  room(values: number): boolean;
  drain(): Promise<void>;
  clock: Clock;
  log: Logger;
  registry: Registry;
  limits: {
    /** Largest body in bytes, both as received and after gzip decompression. */
    maxBodyBytes: number;
    /** Distinct series (measurement + tags + field) accepted per `host` tag value. */
    maxSeriesPerHost: number;
    /** Per-line limits; defaults from the parser. */
    lineProtocol?: Partial<LineProtocolLimits>;
  };
  /**
   * Parses the bodies; default: a pool of worker threads made for these routes and stopped with
   * the server (large bodies are parsed beside the main thread). Tests pass one to share it.
   */
  parser?: LineProtocolParser;
}

/** Series hashes kept across all hosts before the oldest hosts are forgotten (about 16 MB at most). */
export const MAX_TRACKED_SERIES = 1_000_000;

/** An error answered in InfluxDB's shape: `{"code": ..., "message": ...}`. */
class InfluxError extends Error {
  constructor(
    readonly statusCode: number,
    readonly influxCode: string,
    message: string,
  ) {
    super(message);
  }
}

const V2_PRECISIONS: Readonly<Record<string, Precision>> = { ns: "ns", us: "us", ms: "ms", s: "s" };
const V1_PRECISIONS: Readonly<Record<string, Precision>> = { n: "ns", ns: "ns", u: "us", us: "us", ms: "ms", s: "s", m: "m", h: "h" };

/** Each ingest route's query string, for the OpenAPI document; precision is checked by the handler to answer in InfluxDB's shape. */
const v2Query = z.looseObject({
  precision: z.string().optional().describe("Timestamp precision: ns (default), us, ms or s."),
  org: z.string().optional().describe("Accepted and ignored: there is one store."),
  bucket: z.string().optional().describe("Accepted and ignored: there is one store."),
});
const v1Query = z.looseObject({
  precision: z.string().optional().describe("Timestamp precision: n/ns (default), u/us, ms, s, m or h."),
  db: z.string().optional().describe("Accepted and ignored: there is one store."),
  u: z.string().optional().describe("User name; ignored."),
  p: z.string().optional().describe("The token, as InfluxDB 1.x clients send it (or use Authorization)."),
});

const influxErrors = {
  "4xx": {
    description: "400 partial write (the valid lines ARE written), 401/403 token, 413 too large, 415 encoding, 429 rate limited; in InfluxDB's shape.",
    content: { "application/json": { schema: influxErrorSchema } },
  },
  "5xx": { description: "A server error, in InfluxDB's shape.", content: { "application/json": { schema: influxErrorSchema } } },
};

const BODY_DOC = { mediaTypes: ["text/plain"], description: "InfluxDB line protocol, plain or gzip-compressed (Content-Encoding: gzip)." };

/** InfluxDB error codes for the statuses the API hooks answer with. */
const INFLUX_CODES: Readonly<Record<number, string>> = {
  401: "unauthorized",
  403: "forbidden",
  413: "request too large",
  429: "too many requests",
};

/**
 * Registers InfluxDB-compatible ingest: `POST /api/v2/write` (precision ns|us|ms|s, default ns,
 * `Authorization: Token`) and `POST /write` (1.x: precision n|u|ms|s|m|h, token as `p` or in
 * the Authorization header, Token or Basic). Both need the `write` scope once tokens are
 * configured (checked by the API's auth hook before the body is read). org, bucket and db are
 * accepted and ignored: there is one store. Bodies are plain or gzip line protocol, capped
 * before and after decompression. 204 when every line is written; 400 "partial write" when
 * some were dropped (the rest ARE written); 401, 403, 413, 415, 429 otherwise, all in
 * InfluxDB's error shape. Content-type parsing applies to these routes only.
 */
export function registerWriteRoutes(app: FastifyInstance, deps: WriteDeps): void {
  const metrics = ingestMetrics(deps.registry);
  const limiter = createSeriesLimiter(deps.limits.maxSeriesPerHost, MAX_TRACKED_SERIES);
  // Across requests a series keeps one measurement string and one frozen tags object (the parser
  // keeps them), which the store, the analyzer and the limiter find by identity, not by key.
  const parser = deps.parser ?? createParsePool();
  if (deps.parser === undefined) app.addHook("onClose", () => parser.close());
  const log = deps.log.child({ component: "api", route: "write" });
  // Columns only when someone takes them; else every body becomes points.
  const parse = async (body: Buffer, opts: Parameters<LineProtocolParser["parse"]>[1]): Promise<ParsedBody> => {
    if (deps.sinkColumns !== undefined && parser.parseColumns !== undefined) return parser.parseColumns(body, opts);
    const { points, errors } = await parser.parse(body, opts);
    return { kind: "points", points, errors };
  };

  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (req: FastifyRequest, payload: Readable) =>
      readBody(payload, req.headers["content-encoding"], req.headers["content-length"], deps.limits.maxBodyBytes),
    );
    scope.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof InfluxError) return sendInflux(reply, err.statusCode, err.influxCode, err.message);
      const status = err.statusCode ?? 500;
      // Auth and rate-limit errors from the API's hooks, in InfluxDB's shape for its clients.
      if (err instanceof ApiError && status < 500) return sendInflux(reply, status, INFLUX_CODES[status] ?? "invalid", `${err.message}: ${err.hint}`);
      if (status < 500) return sendInflux(reply, status, INFLUX_CODES[status] ?? "invalid", err.message);
      log.error({ err }, "write request failed");
      return sendInflux(reply, 500, "internal error", "writing the points failed; see the server log");
    });
    scope.addHook("onResponse", async (_req, reply) => {
      metrics.requests.inc({ code: String(reply.statusCode) });
    });
    const handle = (precisions: Readonly<Record<string, Precision>>, names: string) => async (req: FastifyRequest, reply: FastifyReply) => {
      const query = req.query as Record<string, unknown>;
      const raw = typeof query.precision === "string" && query.precision !== "" ? query.precision : "ns";
      const precision = Object.hasOwn(precisions, raw) ? precisions[raw] : undefined;
      if (precision === undefined) throw new InfluxError(400, "invalid", `invalid precision ${JSON.stringify(raw)}: use one of ${names}`);
      const body = req.body instanceof Buffer ? req.body : Buffer.alloc(0);
      metrics.bytes.inc(body.length);
      const parsed = await parse(body, { precision, defaultTimeMs: deps.clock.nowMs(), limits: deps.limits.lineProtocol });
      const admitted = parsed.kind === "points" ? limiter.admit(parsed.points) : limiter.admitColumns(parsed.columns);
      const { dropped, overHost } = admitted;
      const values = admitted.kind === "points" ? countValues(admitted.kept) : admitted.kept.values.length;
      // No await between the last check and the sink, so concurrent requests cannot overshoot.
      while (!deps.room(values)) await deps.drain();
      const keptCount = admitted.kind === "points" ? admitted.kept.length : admitted.kept.count;
      if (keptCount > 0) {
        if (admitted.kind === "points") deps.sink(admitted.kept);
        else deps.sinkColumns?.(admitted.kept);
      }
      metrics.points.inc(keptCount);
      countRejected(metrics, parsed.errors, dropped);
      if (parsed.errors.length === 0 && dropped === 0) return reply.code(204).send();
      const total = (parsed.kind === "points" ? parsed.points.length : parsed.columns.count) + parsed.errors.length;
      const message = partialWriteMessage(parsed.errors[0], overHost, deps.limits.maxSeriesPerHost, parsed.errors.length + dropped, total);
      log.debug({ dropped: parsed.errors.length + dropped, total }, message);
      return sendInflux(reply, 400, "invalid", message);
    };
    const api = scope.withTypeProvider<ZodTypeProvider>();
    const responses = { 204: z.undefined().describe("Every line was written."), ...influxErrors };
    api.post(
      "/api/v2/write",
      {
        bodyLimit: deps.limits.maxBodyBytes,
        config: { scope: "write", rawBody: BODY_DOC },
        schema: { tags: ["ingest"], operationId: "writeV2", summary: "InfluxDB 2.x-compatible line-protocol write.", querystring: v2Query, response: responses },
      },
      handle(V2_PRECISIONS, "ns, us, ms, s"),
    );
    api.post(
      "/write",
      {
        bodyLimit: deps.limits.maxBodyBytes,
        config: { scope: "write", tokenInQuery: true, rawBody: BODY_DOC },
        schema: { tags: ["ingest"], operationId: "writeV1", summary: "InfluxDB 1.x-compatible line-protocol write (token as ?p= or Authorization).", querystring: v1Query, response: responses },
      },
      handle(V1_PRECISIONS, "n, u, ms, s, m, h"),
    );
  });
}

function sendInflux(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send({ code, message });
}

function partialWriteMessage(first: LineError | undefined, overHost: string | undefined, maxSeries: number, dropped: number, total: number): string {
  const reason =
    first !== undefined
      ? `${first.message} (line ${first.line}, column ${first.column})`
      : `host ${JSON.stringify(overHost ?? "")} is over its limit of ${maxSeries} series`;
  return `partial write: ${reason}; dropped ${dropped} of ${total} lines`;
}

interface IngestMetrics {
  points: Counter;
  rejected: Counter<"reason">;
  requests: Counter<"code">;
  bytes: Counter;
}

function ingestMetrics(registry: Registry): IngestMetrics {
  return {
    points: counter(registry, "ansai_ingest_points_total", "Points accepted through the line-protocol write endpoints.", []),
    rejected: counter(
      registry,
      "ansai_ingest_lines_rejected_total",
      "Lines dropped by the write endpoints, by reason: invalid_line, line_limit (a size limit), series_limit (per-host series cardinality).",
      ["reason"] as const,
    ),
    requests: counter(registry, "ansai_ingest_requests_total", "Write requests by HTTP status code.", ["code"] as const),
    bytes: counter(registry, "ansai_ingest_bytes_total", "Line-protocol bytes received by the write endpoints, after decompression.", []),
  };
}

/** Reuses a counter already on the registry, so building the routes twice (tests, restarts) works. */
function counter<T extends string>(registry: Registry, name: string, help: string, labelNames: readonly T[]): Counter<T> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<T>;
  return new Counter<T>({ name, help, labelNames, registers: [registry] });
}

function countRejected(metrics: IngestMetrics, errors: readonly LineError[], seriesDropped: number): void {
  let limit = 0;
  for (const e of errors) if (e.kind === "limit") limit++;
  if (errors.length > limit) metrics.rejected.inc({ reason: "invalid_line" }, errors.length - limit);
  if (limit > 0) metrics.rejected.inc({ reason: "line_limit" }, limit);
  if (seriesDropped > 0) metrics.rejected.inc({ reason: "series_limit" }, seriesDropped);
}

/** Reads the body, gunzipping when asked, with `maxBytes` applied to the bytes received and to the bytes decompressed. */
async function readBody(payload: Readable, encoding: string | undefined, contentLength: string | undefined, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): InfluxError => new InfluxError(413, "request too large", `request body is larger than the limit of ${maxBytes} bytes`);
  const enc = (encoding ?? "identity").trim().toLowerCase();
  if (enc !== "identity" && enc !== "gzip" && enc !== "x-gzip") {
    throw new InfluxError(415, "unsupported media type", `Content-Encoding ${JSON.stringify(encoding)} is not supported: send gzip or plain text`);
  }
  if (contentLength !== undefined && Number(contentLength) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let received = 0;
  let decoded = 0;
  async function* countReceived(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      received += chunk.length;
      if (received > maxBytes) throw tooLarge();
      yield chunk;
    }
  }
  async function collect(source: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of source) {
      decoded += chunk.length;
      // A gzip bomb stops here: decompression ends as soon as the output passes the cap.
      if (decoded > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  }
  try {
    if (enc === "identity") await pipeline(payload, countReceived, collect);
    else await pipeline(payload, countReceived, createGunzip(), collect);
  } catch (err) {
    if (err instanceof InfluxError) throw err;
    const code = (err as { code?: string }).code ?? "";
    if (code.startsWith("Z_")) throw new InfluxError(400, "invalid", `body is not valid gzip: ${(err as Error).message}`);
    throw err;
  }
  return Buffer.concat(chunks);
}

function countValues(points: readonly Point[]): number {
  let n = 0;
  for (const p of points) for (const _ in p.fields) n++;
  return n;
}

type Admitted = ({ kind: "points"; kept: readonly Point[] } | { kind: "columns"; kept: PointColumns }) & {
  dropped: number;
  /** The first host whose points were dropped. */
  overHost: string | undefined;
};

/**
 * Counts distinct series per `host` tag value (points without one share the "" budget) as
 * 53-bit hashes, and drops a point that would take its host past `maxSeriesPerHost`. Hosts are
 * forgotten oldest first once `maxTracked` hashes are held, which bounds memory.
 */
function createSeriesLimiter(maxSeriesPerHost: number, maxTracked: number) {
  const hosts = new Map<string, Set<number>>();
  // Per frozen tags object (which cannot change): what is known of its series.
  const known = new WeakMap<object, KnownSeries>();
  // Per table of column heads: each head's KnownSeries by head id, an array index instead of a WeakMap lookup per point.
  const knownByHeadTable = new WeakMap<object, Array<KnownSeries | undefined>>();
  let tracked = 0;
  /** Bumped whenever hosts are forgotten: field lists counted before then are stale. */
  let generation = 0;

  /** The parser gives each measurement + tags its own frozen tags object; other producers get no cache. */
  const knownSeries = (measurement: string, tags: Readonly<Record<string, string>>): KnownSeries | undefined => {
    if (!Object.isFrozen(tags)) return undefined;
    const series = known.get(tags);
    if (series !== undefined) return series.measurement === measurement ? series : undefined;
    const fresh: KnownSeries = { measurement: ownString(measurement), base: headHash(measurement, tags), fields: [], generation: -1 };
    known.set(tags, fresh);
    return fresh;
  };

  const forgetOldest = (): void => {
    for (const [host, set] of hosts) {
      if (tracked <= maxTracked) return;
      hosts.delete(host);
      tracked -= set.size;
      generation++;
    }
  };

  /** Counts the series of `fields` not yet counted for the host; false (and nothing counted) when they would pass its limit. */
  const admitFields = (measurement: string, tags: Readonly<Record<string, string>>, series: KnownSeries | undefined, fields: readonly string[], fresh: number[]): boolean => {
    const host = tags.host ?? "";
    let set = hosts.get(host);
    if (set === undefined) {
      set = new Set();
      hosts.set(host, set);
    }
    fresh.length = 0;
    const base = series?.base ?? headHash(measurement, tags);
    for (const field of fields) {
      const h = seriesHash(base, field);
      if (!set.has(h)) fresh.push(h);
    }
    if (set.size + fresh.length > maxSeriesPerHost) return false;
    for (const h of fresh) set.add(h);
    tracked += fresh.length;
    if (series !== undefined) {
      // Property names and the parser's field lists are never slices of a body, so they can be kept.
      series.fields = fields;
      series.generation = generation;
    }
    return true;
  };

  const admitPoint = (p: Point, fresh: number[]): boolean => {
    const series = knownSeries(p.measurement, p.tags);
    // The common case: the same fields as a point of this series already counted.
    if (series !== undefined && series.generation === generation && fieldsIn(p.fields, series.fields)) return true;
    return admitFields(p.measurement, p.tags, series, Object.keys(p.fields), fresh);
  };

  const admitColumn = (head: ColumnHead, cached: KnownSeries | undefined, names: readonly string[], fresh: number[]): boolean => {
    const series = cached ?? knownSeries(head.measurement, head.tags);
    if (series !== undefined && series.generation === generation && (series.fields === names || sameNames(names, series.fields))) return true;
    return admitFields(head.measurement, head.tags, series, names, fresh);
  };

  return {
    admit(points: readonly Point[]): Admitted {
      let kept: Point[] | undefined;
      const fresh: number[] = [];
      let dropped = 0;
      let overHost: string | undefined;
      for (let i = 0; i < points.length; i++) {
        const p = points[i] as Point;
        if (admitPoint(p, fresh)) {
          kept?.push(p);
          continue;
        }
        // Copy only once a point is dropped: usually every point is kept.
        kept ??= points.slice(0, i);
        dropped++;
        overHost ??= p.tags.host ?? "";
      }
      if (tracked > maxTracked) forgetOldest();
      return { kind: "points", kept: kept ?? points, dropped, overHost };
    },
    admitColumns(columns: PointColumns): Admitted {
      let keep: Uint8Array | undefined;
      const fresh: number[] = [];
      let dropped = 0;
      let overHost: string | undefined;
      let byHead = knownByHeadTable.get(columns.heads);
      if (byHead === undefined) {
        byHead = [];
        knownByHeadTable.set(columns.heads, byHead);
      }
      for (let i = 0; i < columns.count; i++) {
        const headId = columns.headIds[i] as number;
        const head = columns.heads[headId] as ColumnHead;
        const cached = byHead[headId] ?? (byHead[headId] = knownSeries(head.measurement, head.tags));
        if (admitColumn(head, cached, columns.fieldNames[columns.shapeIds[i] as number] as readonly string[], fresh)) continue;
        // A mask only once a point is dropped: usually every point is kept.
        keep ??= new Uint8Array(columns.count).fill(1);
        keep[i] = 0;
        dropped++;
        overHost ??= head.tags.host ?? "";
      }
      if (tracked > maxTracked) forgetOldest();
      return { kind: "columns", kept: keep === undefined ? columns : selectColumns(columns, keep), dropped, overHost };
    },
  };
}

/** Whether two field lists are equal, in order. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the limiter knows of one measurement + tags. */
interface KnownSeries {
  measurement: string;
  base: [number, number];
  /** Fields whose series were counted for the host, valid while `generation` is current. */
  fields: readonly string[];
  generation: number;
}

/** Whether every field of `fields` is in `counted`, in the same order (the usual case: the same shape again). */
function fieldsIn(fields: Readonly<Record<string, unknown>>, counted: readonly string[]): boolean {
  let i = 0;
  for (const field in fields) if (counted[i++] !== field) return false;
  return true;
}

/** Two 32-bit hashes of one string, seeded apart. */
function hash32(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** Measurement and tags hashed so that tag order does not matter (a sum of per-tag hashes). */
function headHash(measurement: string, tags: Readonly<Record<string, string>>): [number, number] {
  let a = hash32(measurement, 0x811c9dc5);
  let b = hash32(measurement, 0x9747b28c);
  for (const k of Object.keys(tags)) {
    const kv = `${k}\u0000${tags[k] ?? ""}`;
    a = (a + hash32(kv, 0x2b9c1f3d)) >>> 0;
    b = (b + hash32(kv, 0x5bd1e995)) >>> 0;
  }
  return [a, b];
}

function seriesHash(base: [number, number], field: string): number {
  const a = (base[0] ^ hash32(field, 0x1b873593)) >>> 0;
  const b = (base[1] ^ hash32(field, 0xcc9e2d51)) >>> 0;
  return (a & 0x1fffff) * 2 ** 32 + b;
}
