import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { JournalRecord } from "../../src/remediator/journal.js";
import { getJson, startAnsai, waitFor, type RunningAnsai } from "./helpers.js";

// Shared pieces of the remediation end-to-end tests: a config file for the built CLI, the
// journal through the API, and a look for files a shell would have made.

/** Collectors off unless a case turns one on: each case watches only what it heals. */
const QUIET_COLLECTORS = { host: { enabled: false }, disk: { enabled: false }, procstat: { enabled: false }, x509_cert: { enabled: false } };

export interface CaseConfig {
  collectors?: Record<string, unknown>;
  rules: Array<Record<string, unknown>>;
  remediation: Record<string, unknown>;
}

/**
 * Writes `work/ansai.yaml` (JSON is YAML) with 1 s collection and evaluation, no default rules,
 * and the case's collectors, rules and remediation section; returns its path.
 */
export function writeCaseConfig(work: string, c: CaseConfig): string {
  const file = path.join(work, "ansai.yaml");
  const config = {
    version: 1,
    host: "e2e-host",
    interval: "1s",
    data_dir: path.join(work, "data"),
    api: { port: 0 },
    collectors: { ...QUIET_COLLECTORS, ...c.collectors },
    analyzer: { evaluation_interval: "1s", default_rules: false, rules: c.rules },
    remediation: c.remediation,
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Starts the built CLI on the case's config, in `work`. */
export async function startCase(work: string, c: CaseConfig): Promise<RunningAnsai> {
  return startAnsai(writeCaseConfig(work, c), work);
}

/** The whole journal through GET /api/v1/actions, oldest first. */
export async function journalOf(url: string, query = ""): Promise<JournalRecord[]> {
  const { actions } = await getJson<{ actions: JournalRecord[] }>(`${url}/api/v1/actions?limit=10000${query}`);
  return actions;
}

/** Polls the journal until `pick` returns something. */
export function waitForJournal<T>(url: string, what: string, timeoutMs: number, pick: (records: JournalRecord[]) => T | undefined): Promise<T> {
  return waitFor(async () => pick(await journalOf(url)), timeoutMs, what, 300);
}

/** Records per kind. */
export function countKinds(records: readonly JournalRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  return counts;
}

/** Every path under `dirs` (recursively, symlinks not followed) whose name starts with "pwned". */
export function pwnedFiles(dirs: readonly string[]): string[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number): void => {
    if (!existsSync(dir) || depth > 6) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name.startsWith("pwned")) found.push(p);
      if (e.isDirectory() && !e.isSymbolicLink()) visit(p, depth + 1);
    }
  };
  for (const d of dirs) visit(d, 0);
  return found;
}
