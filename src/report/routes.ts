import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { problemResponses, sendProblem } from "../api/problem.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { FORMAT_EXTENSIONS, REPORT_FORMATS, type ReportFormat } from "./config.js";
import { listReports, readReportFile, REPORT_ID_PATTERN } from "./files.js";
import type { ReportService } from "./generate.js";
import { CONTENT_TYPES } from "./render.js";

export interface ReportRouteDeps {
  reports: Pick<ReportService, "dir" | "generate">;
}

const fetchQuery = z.strictObject({ format: z.enum(REPORT_FORMATS).optional() });
const EXTENSION_FORMATS: ReadonlyMap<string, ReportFormat> = new Map(REPORT_FORMATS.map((f) => [FORMAT_EXTENSIONS[f], f]));

/** Links to each format of a report. */
function links(id: string, formats: readonly ReportFormat[]): Record<string, string> {
  return Object.fromEntries(formats.map((f) => [f, `/api/v1/reports/${id}.${FORMAT_EXTENSIONS[f]}`]));
}

const STATUS: Partial<Record<string, number>> = { [ErrorCodes.QUERY_INVALID]: 400, [ErrorCodes.REPORT_NOT_FOUND]: 404, [ErrorCodes.REPORT_FAILED]: 500 };

function problem(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof AnsaiError)) throw err;
  return sendProblem(reply, STATUS[err.code] ?? 503, err.code, err.message, err.hint);
}

/**
 * `"<id>"` or `"<id>.<ext>"` plus `?format=` into an id and a format (default json). Anything but
 * a well-formed id is refused before a path is built, so `..`, slashes and encoded tricks never
 * reach the file system.
 */
export function parseReportRef(ref: string, format: ReportFormat | undefined): { id: string; format: ReportFormat } {
  const m = /^(.*)\.(html|md|json)$/.exec(ref);
  const id = m ? m[1]! : ref;
  const fromExt = m ? EXTENSION_FORMATS.get(m[2]!) : undefined;
  if (!REPORT_ID_PATTERN.test(id)) {
    throw new AnsaiError(ErrorCodes.QUERY_INVALID, `"${ref.slice(0, 80)}" is not a report id`, "Use an id from GET /api/v1/reports, e.g. /api/v1/reports/20260105T070000Z.html.");
  }
  if (fromExt !== undefined && format !== undefined && fromExt !== format) {
    throw new AnsaiError(ErrorCodes.QUERY_INVALID, `the extension says ${fromExt} but ?format= says ${format}`, "Give one of them.");
  }
  return { id, format: fromExt ?? format ?? "json" };
}

/** GET /api/v1/reports, GET /api/v1/reports/:id, POST /api/v1/reports. */
export function registerReportRoutes(app: FastifyInstance, deps: ReportRouteDeps): void {
  const schema = (operationId: string, summary: string) => ({ tags: ["reports"], operationId, summary, response: { ...problemResponses } });
  app.get("/api/v1/reports", { config: { scope: "read" }, schema: schema("listReports", "Capacity reports on disk, newest first, with links to each format.") }, async (_req, reply) => {
    try {
      const reports = await listReports(deps.reports.dir);
      return { reports: reports.map((r) => ({ id: r.id, generatedAt: new Date(r.generatedAtMs).toISOString(), formats: r.formats, links: links(r.id, r.formats) })) };
    } catch (err) {
      return problem(reply, err);
    }
  });

  app.get<{ Params: { id: string } }>(
    "/api/v1/reports/:id",
    { config: { scope: "read", hint: "Use an id from GET /api/v1/reports, e.g. /api/v1/reports/20260105T070000Z.html." }, schema: schema("getReport", "One report as HTML, Markdown or JSON (?format= or an extension).") },
    async (req, reply) => {
    const q = fetchQuery.safeParse(req.query);
    if (!q.success) {
      return sendProblem(reply, 400, ErrorCodes.QUERY_INVALID, `format: expected one of ${REPORT_FORMATS.join(", ")}`, "Use ?format=html, ?format=markdown or ?format=json, or an extension (.html, .md, .json).");
    }
    try {
      const { id, format } = parseReportRef(req.params.id, q.data.format);
      const text = await readReportFile(deps.reports.dir, id, format);
      return reply.type(CONTENT_TYPES[format]).header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:").send(text);
    } catch (err) {
      return problem(reply, err);
    }
  },
  );

  // Generates now and answers when the files are written; joins a run already in progress.
  app.post("/api/v1/reports", { config: { scope: "admin" }, schema: schema("generateReport", "Make a capacity report now (joins a run in progress); answers when its files are written.") }, async (_req, reply) => {
    try {
      const made = await deps.reports.generate();
      return reply.code(201).send({ id: made.id, formats: made.formats, links: links(made.id, made.formats), summary: made.report.summary, delivery: made.delivery });
    } catch (err) {
      return problem(reply, err);
    }
  });
}
