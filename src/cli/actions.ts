import os from "node:os";
import { parseArgs } from "node:util";
import { formatDuration } from "../core/duration.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import type { JournalRecord } from "../remediator/journal.js";
import { authHeaders } from "./api-client.js";
import type { PendingApproval } from "../remediator/remediator.js";

export const ACTIONS_USAGE = `Usage: ansai actions [list|pending|approve ID|reject ID --reason R] [--server URL]

  list                 the audit journal, newest last (--limit N, default 50)
  pending              runs waiting for approval, with what each would do
  approve ID           approve a waiting run; it runs if the limits still allow
  reject ID --reason R reject a waiting run

Options:
  --server URL   the running ANSAI's API (default http://127.0.0.1:9847); a token comes from $ANSAI_TOKEN
  --by NAME      who approves or rejects (default: your user name)
  --limit N      list: how many records
  -h, --help     this help

Exit codes: 0 done; 1 the server refused or cannot be reached; 2 bad usage.
`;

const DEFAULT_SERVER = "http://127.0.0.1:9847";

/** Where the command writes; the CLI passes the console, tests capture. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const consoleOutput: CliOutput = { out: (l) => console.log(l), err: (l) => console.error(l) };

/** `ansai actions …`: talks to the running ANSAI's API. Returns the exit code. */
export async function runActions(argv: string[], io: CliOutput = consoleOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: "string", default: DEFAULT_SERVER },
      reason: { type: "string" },
      by: { type: "string" },
      limit: { type: "string", default: "50" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(ACTIONS_USAGE);
    return 0;
  }
  const server = values.server.replace(/\/+$/, "");
  const by = values.by ?? os.userInfo().username;
  const [sub = "list", id] = positionals;
  switch (sub) {
    case "list":
      return list(server, Number(values.limit), io);
    case "pending":
      return pending(server, io);
    case "approve":
      if (id === undefined) return usage(io, "approve needs the run id (see `ansai actions pending`)");
      return post(server, `/api/v1/actions/${encodeURIComponent(id)}/approve`, { by }, io, (body) => describeApproval(id, body));
    case "reject":
      if (id === undefined) return usage(io, "reject needs the run id (see `ansai actions pending`)");
      if (values.reason === undefined) return usage(io, "reject needs --reason R: the journal keeps why");
      return post(server, `/api/v1/actions/${encodeURIComponent(id)}/reject`, { by, reason: values.reason }, io, () => `rejected ${id}`);
    default:
      return usage(io, `unknown: ansai actions ${sub}`);
  }
}

function usage(io: CliOutput, message: string): number {
  io.err(`${message}\n\n${ACTIONS_USAGE}`);
  return 2;
}

async function list(server: string, limit: number, io: CliOutput): Promise<number> {
  const { status, body } = await call(server, `/api/v1/actions?limit=${Number.isInteger(limit) && limit > 0 ? limit : 50}`);
  if (status !== 200) return problem(io, body);
  const records = (body as { actions: JournalRecord[] }).actions;
  if (records.length === 0) {
    io.out("the journal is empty");
    return 0;
  }
  table(io, ["TIME", "RUN", "KIND", "ACTION", "TARGET", "DETAIL"], records.map((r) => [new Date(r.timeMs).toISOString(), r.runId, r.kind, r.action, r.target, detailOf(r)]));
  return 0;
}

async function pending(server: string, io: CliOutput): Promise<number> {
  const { status, body } = await call(server, "/api/v1/actions/pending");
  if (status !== 200) return problem(io, body);
  const runs = (body as { pending: PendingApproval[] }).pending;
  if (runs.length === 0) {
    io.out("no run waits for approval");
    return 0;
  }
  const nowMs = Date.now();
  for (const p of runs) {
    io.out(`${p.runId}  ${p.action} on ${p.target}  (expires in ${formatDuration(p.expiresAtMs - nowMs)})`);
    io.out(`  why: ${p.summary}`);
    for (const line of p.preview) io.out(`  would: ${line}`);
  }
  io.out("");
  io.out("approve with `ansai actions approve ID`, reject with `ansai actions reject ID --reason R`");
  return 0;
}

async function post(server: string, route: string, payload: unknown, io: CliOutput, describe: (body: unknown) => string): Promise<number> {
  const { status, body } = await call(server, route, payload);
  if (status !== 200) return problem(io, body);
  io.out(describe(body));
  return 0;
}

function describeApproval(id: string, body: unknown): string {
  const b = body as { outcome: string; reason?: string; detail?: string };
  if (b.outcome === "started") return `approved ${id}: running`;
  if (b.outcome === "queued") return `approved ${id}: waiting for a free slot (remediation.max_concurrent)`;
  return `approved ${id}, but the policy suppressed it (${b.reason ?? "?"}): ${b.detail ?? ""}`;
}

async function call(server: string, route: string, payload?: unknown): Promise<{ status: number; body: unknown }> {
  try {
    const res = await fetch(`${server}${route}`, {
      method: payload === undefined ? "GET" : "POST",
      signal: AbortSignal.timeout(10_000),
      headers: { ...authHeaders(undefined), ...(payload === undefined ? {} : { "content-type": "application/json" }) },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  } catch (err) {
    throw new AnsaiError(
      ErrorCodes.API_UNREACHABLE,
      `cannot reach ANSAI at ${server}: ${(err as Error).message}`,
      "Start it with `ansai start`, or pass --server URL if it listens elsewhere.",
      { cause: err },
    );
  }
}

function problem(io: CliOutput, body: unknown): number {
  const p = body as { code?: string; detail?: string; hint?: string };
  io.err(`${p.code ?? "error"}: ${p.detail ?? JSON.stringify(body)}${p.hint ? `\n  ${p.hint}` : ""}`);
  return 1;
}

function detailOf(r: JournalRecord): string {
  switch (r.kind) {
    case "planned":
      return `${r.dryRun ? "dry-run: " : ""}${r.command}`;
    case "suppressed":
      return `${r.reason}: ${r.detail}`;
    case "finished":
      return r.ok ? `ok in ${r.durationMs} ms` : `failed: ${r.error ?? `exit ${r.exitCode}`}`;
    case "approved":
      return `by ${r.by}`;
    case "rejected":
      return `by ${r.by}: ${r.reason}`;
    case "awaiting_approval":
      return `until ${new Date(r.expiresAtMs).toISOString()}`;
    case "escalated":
      return `to ${r.to}: ${r.detail}`;
    case "raised":
      return r.summary;
    case "started":
      return `attempt ${r.attempt}`;
    default:
      return "detail" in r ? r.detail : "";
  }
}

function table(io: CliOutput, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(60, (r[i] ?? "").length))));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  io.out(line(header));
  for (const row of rows) io.out(line(row));
}
