import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Clock } from "../../core/contracts.js";
import { checkRegexes, executeStatements } from "../../query/influxql/executor.js";
import { NS_PER_MS, timeFormat, toJson } from "../../query/influxql/format.js";
import { InfluxQLParseError, parseInfluxQL } from "../../query/influxql/parser.js";
import { problemResponses } from "../problem.js";
import type { SelectReads } from "../../store/select.js";

/** The InfluxDB version ANSAI answers as: the 1.x query API it implements. */
export const INFLUXDB_COMPAT_VERSION = "1.8.10";

/** What the InfluxQL endpoint needs. */
export interface InfluxQLDeps {
  /** The store's InfluxQL reads (the embedded store implements them). */
  reads: SelectReads;
  clock: Clock;
  log: Logger;
  /** Name answered to SHOW DATABASES; `db` and `rp` parameters are accepted and ignored. Default "ansai". */
  database?: string;
  /** InfluxDB's max-select-buckets: buckets one GROUP BY time() may span. Default 100 000. */
  maxSelectBuckets?: number;
  /** Rows a raw SELECT may return in all. Default 200 000. */
  maxSelectRows?: number;
  /**
   * Auth hook (API tokens): called with the request, which carries `u`/`p`, or an `Authorization`
   * Token/Basic header; return false to answer 401. Absent: no authentication.
   */
  authorize?: (req: FastifyRequest, params: Readonly<Record<string, string>>) => boolean | Promise<boolean>;
}

type Params = Record<string, string>;

/** Query-string and form-body parameters; the body wins, as in Go's `r.FormValue` order for POST. */
function requestParams(req: FastifyRequest): Params {
  const params: Params = {};
  for (const source of [req.query, req.body]) {
    if (source === null || typeof source !== "object") continue;
    for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
      if (typeof v === "string") params[k] = v;
      else if (Array.isArray(v) && typeof v[0] === "string") params[k] = v[0];
    }
  }
  return params;
}

function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type("application/json").header("X-Influxdb-Version", INFLUXDB_COMPAT_VERSION).header("X-Influxdb-Build", "ANSAI").send(toJson(body));
}

/**
 * Registers InfluxDB 1.x's read API over the store, so Grafana's InfluxDB datasource (InfluxQL)
 * works against ANSAI: `GET|POST /query` (q, db, rp, epoch, u, p; POST bodies as
 * application/x-www-form-urlencoded) and `GET|HEAD /ping` (204). Answers exactly as InfluxDB 1.x:
 * 400 `{"error": ...}` for a missing or unparsable query, else 200 `{"results": [...]}` with
 * per-statement errors.
 */
export function registerInfluxQLRoutes(app: FastifyInstance, deps: InfluxQLDeps): void {
  const log = deps.log.child({ component: "api", route: "influxql" });
  const database = deps.database ?? "ansai";
  const limits = { maxSelectBuckets: deps.maxSelectBuckets ?? 100_000, maxSelectRows: deps.maxSelectRows ?? 200_000 };

  async function query(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = requestParams(req);
    if (deps.authorize !== undefined && !(await deps.authorize(req, params))) return sendJson(reply, 401, { error: "authorization failed" });
    const text = params.q;
    if (text === undefined || text === "") return sendJson(reply, 400, { error: 'missing required parameter "q"' });
    try {
      const statements = parseInfluxQL(text);
      await checkRegexes(statements, text, deps.reads);
      const results = await executeStatements(statements, {
        ...limits, reads: deps.reads, database, requestDatabase: params.db || undefined,
        nowNs: BigInt(Math.trunc(deps.clock.nowMs())) * NS_PER_MS, timeFormat: timeFormat(params.epoch),
      });
      return sendJson(reply, 200, { results });
    } catch (err) {
      if (err instanceof InfluxQLParseError) return sendJson(reply, 400, { error: err.message });
      log.error({ err }, "InfluxQL query failed");
      return sendJson(reply, 500, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  void app.register(async (scope) => {
    // Grafana POSTs `q` as a form; the parser applies to these routes only.
    scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    // Grafana and InfluxDB clients send the token as u/p query parameters, or as a header.
    const config = { scope: "read" as const, tokenInQuery: true, hint: "Give a read token as Authorization: Token T, or u=any&p=T." };
    const schema = (operationId: string) => ({
      tags: ["influxdb"],
      operationId,
      summary: "InfluxQL (InfluxDB 1.x compatible) over ANSAI's store, for Grafana's InfluxDB datasource: q, db, epoch.",
      response: { ...problemResponses },
    });
    scope.get("/query", { config, schema: schema("influxqlQueryGet") }, query);
    scope.post("/query", { config, schema: schema("influxqlQueryPost") }, query);
  });
}
