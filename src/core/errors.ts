/** Stable error codes; each has an entry in docs/ERRORS.md. */
export const ErrorCodes = {
  CONFIG_INVALID: "ANSAI_CONFIG_INVALID",
  CONFIG_UNREADABLE: "ANSAI_CONFIG_UNREADABLE",
  STORE_UNAVAILABLE: "ANSAI_STORE_UNAVAILABLE",
  STORE_LOCKED: "ANSAI_STORE_LOCKED",
  API_LISTEN_FAILED: "ANSAI_API_LISTEN_FAILED",
  API_UNREACHABLE: "ANSAI_API_UNREACHABLE",
  QUERY_INVALID: "ANSAI_QUERY_INVALID",
  SERIES_NOT_FOUND: "ANSAI_SERIES_NOT_FOUND",
  ACTION_FAILED: "ANSAI_ACTION_FAILED",
  JOURNAL_WRITE_FAILED: "ANSAI_JOURNAL_WRITE_FAILED",
  BACKTEST_INVALID: "ANSAI_BACKTEST_INVALID",
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
