/** Stable error codes; each has an entry in docs/ERRORS.md. */
export const ErrorCodes = {
  CONFIG_INVALID: "ANSAI_CONFIG_INVALID",
  CONFIG_UNREADABLE: "ANSAI_CONFIG_UNREADABLE",
  STORE_UNAVAILABLE: "ANSAI_STORE_UNAVAILABLE",
  STORE_LOCKED: "ANSAI_STORE_LOCKED",
  API_LISTEN_FAILED: "ANSAI_API_LISTEN_FAILED",
  API_UNREACHABLE: "ANSAI_API_UNREACHABLE",
  QUERY_INVALID: "ANSAI_QUERY_INVALID",
  API_UNAUTHORIZED: "ANSAI_API_UNAUTHORIZED",
  API_FORBIDDEN: "ANSAI_API_FORBIDDEN",
  API_RATE_LIMITED: "ANSAI_API_RATE_LIMITED",
  API_NOT_FOUND: "ANSAI_API_NOT_FOUND",
  API_BODY_TOO_LARGE: "ANSAI_API_BODY_TOO_LARGE",
  API_INTERNAL: "ANSAI_API_INTERNAL",
  API_SECRET_UNREADABLE: "ANSAI_API_SECRET_UNREADABLE",
  SERIES_NOT_FOUND: "ANSAI_SERIES_NOT_FOUND",
  ACTION_FAILED: "ANSAI_ACTION_FAILED",
  JOURNAL_WRITE_FAILED: "ANSAI_JOURNAL_WRITE_FAILED",
  ACTION_NOT_PENDING: "ANSAI_ACTION_NOT_PENDING",
  SILENCE_NOT_FOUND: "ANSAI_SILENCE_NOT_FOUND",
  BACKTEST_INVALID: "ANSAI_BACKTEST_INVALID",
  REPORT_NOT_FOUND: "ANSAI_REPORT_NOT_FOUND",
  REPORT_FAILED: "ANSAI_REPORT_FAILED",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error people can act on: a stable code, what happened, and what to do next. */
export class AnsaiError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, hint: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AnsaiError";
    this.code = code;
    this.hint = hint;
  }

  /** `CODE: message\n  hint` for terminals and logs. */
  format(): string {
    return `${this.code}: ${this.message}\n  ${this.hint}`;
  }
}
