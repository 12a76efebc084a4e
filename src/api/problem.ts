import type { FastifyReply } from "fastify";
import { AnsaiError, ErrorCodes, type ErrorCode } from "../core/errors.js";

/** Sends an RFC 9457 problem document with a stable code and what to do next. */
export function sendProblem(reply: FastifyReply, status: number, code: ErrorCode, detail: string, hint: string): FastifyReply {
  return reply
    .code(status)
    .type("application/problem+json")
    .send({ type: "about:blank", title: code, status, code, detail, hint, docs: `docs/ERRORS.md#${code.toLowerCase()}` });
}

/** A bad request parameter, as a 400 problem. */
export function badQuery(detail: string, hint: string): AnsaiError {
  return new AnsaiError(ErrorCodes.QUERY_INVALID, detail, hint);
}
