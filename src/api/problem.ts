import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { AnsaiError, ErrorCodes, type ErrorCode } from "../core/errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** A valid example request, shown as the hint of this route's 400 problems. */
    hint?: string;
  }
}

/**
 * Where the error catalogue lives; a problem's `type` is this plus `#<code in lower case>`.
 * Relative until the project has a public home; a client resolves it against the API's URL.
 */
export const ERRORS_DOC = "docs/ERRORS.md";

/** Media type of every ANSAI error response (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/** One invalid part of a request. */
export interface ProblemField {
  /** Where: querystring, params, body or headers. */
  in: string;
  /** The parameter, e.g. `series` or `actions.0.argv`. */
  name: string;
  message: string;
}

/** An RFC 9457 problem document with ANSAI's stable code and a hint saying what to do. */
export const problemSchema = z
  .object({
    type: z.string().describe("URI of the code's entry in docs/ERRORS.md."),
    title: z.string().describe("The code again, for clients that show only the title."),
    status: z.number().int().describe("The HTTP status."),
    code: z.enum(Object.values(ErrorCodes) as [ErrorCode, ...ErrorCode[]]).describe("Stable error code; see docs/ERRORS.md."),
    detail: z.string().describe("What happened; names the parameter when one is invalid."),
    hint: z.string().describe("What to do next."),
    docs: z.string().describe("Path of the code's entry in the repository's docs."),
    errors: z
      .array(z.object({ in: z.string(), name: z.string(), message: z.string() }))
      .optional()
      .describe("Each invalid parameter, for validation errors."),
  })
  .meta({ id: "Problem", description: "An error (RFC 9457 problem details)." });

export type Problem = z.output<typeof problemSchema>;

/** The `4xx`/`5xx` responses of a route whose errors are problems, for its response schema. */
export const problemResponses = {
  "4xx": { description: "A client error as a problem document (401 no token, 403 scope too weak, 400 invalid parameter, 429 rate limited).", content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } } },
  "5xx": { description: "A server error as a problem document.", content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } } },
};

/** An error the API answers with a given status, e.g. 401 from the auth hook. */
export class ApiError extends AnsaiError {
  readonly statusCode: number;
  readonly fields: readonly ProblemField[] | undefined;

  constructor(statusCode: number, code: ErrorCode, message: string, hint: string, fields?: readonly ProblemField[]) {
    super(code, message, hint);
    this.name = "ApiError";
    this.statusCode = statusCode;
    this.fields = fields;
  }
}

/** The problem document for a code. */
export function problem(status: number, code: ErrorCode, detail: string, hint: string, fields?: readonly ProblemField[]): Problem {
  const anchor = code.toLowerCase();
  return {
    type: `${ERRORS_DOC}#${anchor}`,
    title: code,
    status,
    code,
    detail,
    hint,
    docs: `docs/ERRORS.md#${anchor}`,
    ...(fields === undefined ? {} : { errors: [...fields] }),
  };
}

/** Sends an RFC 9457 problem document with a stable code and what to do next. */
export function sendProblem(reply: FastifyReply, status: number, code: ErrorCode, detail: string, hint: string, fields?: readonly ProblemField[]): FastifyReply {
  return reply.code(status).type(PROBLEM_MEDIA_TYPE).send(problem(status, code, detail, hint, fields));
}

/** A bad request parameter, as a 400 problem. */
export function badQuery(detail: string, hint: string): AnsaiError {
  return new ApiError(400, ErrorCodes.QUERY_INVALID, detail, hint);
}

interface ValidationItem {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { keys?: unknown };
}

/** The invalid parameters of a failed schema validation, each named. */
export function validationFields(validation: readonly ValidationItem[], context: string): ProblemField[] {
  return validation.map((v) => {
    const dotted = (v.instancePath ?? "").replace(/^\//, "").replaceAll("/", ".");
    const keys = Array.isArray(v.params?.keys) ? v.params.keys.join(", ") : "";
    return { in: context, name: dotted || keys || context, message: v.message ?? "invalid" };
  });
}

/** Status of an AnsaiError that carries none. */
function statusOf(err: AnsaiError): number {
  if (err instanceof ApiError) return err.statusCode;
  if (err.code === ErrorCodes.SERIES_NOT_FOUND) return 404;
  if (err.code === ErrorCodes.QUERY_INVALID) return 400;
  return 503;
}

const GENERIC_HINT = "Check the request against /docs (or /openapi.json).";

/** Turns every error into a problem document: validation, auth, rate limits, AnsaiErrors, fastify's own. */
export function problemFromError(err: FastifyError | AnsaiError | Error, req: FastifyRequest): { status: number; body: Problem; log: boolean } {
  const hint = req.routeOptions.config?.hint ?? GENERIC_HINT;
  const validation = (err as FastifyError).validation;
  if (Array.isArray(validation)) {
    const fields = validationFields(validation, (err as FastifyError).validationContext ?? "request");
    const detail = fields.map((f) => `${f.name}: ${f.message}`).join("; ");
    return { status: 400, body: problem(400, ErrorCodes.QUERY_INVALID, detail, hint, fields), log: false };
  }
  if (err instanceof AnsaiError) {
    const status = statusOf(err);
    const fields = err instanceof ApiError ? err.fields : undefined;
    return { status, body: problem(status, err.code, err.message, err.hint, fields), log: status >= 500 };
  }
  const status = (err as FastifyError).statusCode ?? 500;
  if (status === 413) {
    return { status, body: problem(status, ErrorCodes.API_BODY_TOO_LARGE, err.message, "Send a smaller body, or raise api.max_json_bytes (server.max_push_bytes for ingest)."), log: false };
  }
  if (status < 500) return { status, body: problem(status, ErrorCodes.QUERY_INVALID, err.message, hint), log: false };
  const detail = `${req.method} ${req.routeOptions.url ?? req.url} failed; the server log has the error`;
  return { status, body: problem(status, ErrorCodes.API_INTERNAL, detail, "Retry; if it persists, report the log line \"API request failed\"."), log: true };
}

/** Error and not-found handlers that answer with problem documents. */
export function registerProblemHandlers(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | AnsaiError, req, reply) => {
    const { status, body, log: shouldLog } = problemFromError(err, req);
    if (shouldLog) log.error({ err, method: req.method, url: req.routeOptions.url }, "API request failed");
    return reply.code(status).type(PROBLEM_MEDIA_TYPE).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, 404, ErrorCodes.API_NOT_FOUND, `no route ${req.method} ${req.url.split("?")[0] ?? ""}`, "See /docs for the routes; they live under /api/v1/."),
  );
}
