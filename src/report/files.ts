import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { FORMAT_EXTENSIONS, REPORT_FORMATS, type ReportFormat } from "./config.js";

/** A report id: its UTC time, plus a counter when two runs share a second. Nothing else is accepted (no paths). */
export const REPORT_ID_PATTERN = /^\d{8}T\d{6}Z(?:-\d{1,4})?$/;

const FILE_PATTERN = /^(\d{8}T\d{6}Z(?:-\d{1,4})?)-capacity\.(html|md|json)$/;
const FORMAT_BY_EXTENSION: Readonly<Record<string, ReportFormat>> = Object.fromEntries(REPORT_FORMATS.map((f) => [FORMAT_EXTENSIONS[f], f]));

/** One report in the directory and the formats written for it. */
export interface StoredReport {
  id: string;
  /** From the id (ms). */
  generatedAtMs: number;
  formats: ReportFormat[];
}

/** `<id>-capacity.<ext>`. */
export function reportFileName(id: string, format: ReportFormat): string {
  return `${id}-capacity.${FORMAT_EXTENSIONS[format]}`;
}

/** The time (ms) an id stands for. */
export function idTimeMs(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** Reports in `dir`, newest first; a missing directory has none. */
export async function listReports(dir: string): Promise<StoredReport[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw failed(`cannot list the reports directory ${dir}`, err);
  }
  const byId = new Map<string, StoredReport>();
  for (const name of names) {
    const m = FILE_PATTERN.exec(name);
    if (!m) continue;
    const id = m[1]!;
    const entry = byId.get(id) ?? { id, generatedAtMs: idTimeMs(id), formats: [] };
    entry.formats.push(FORMAT_BY_EXTENSION[m[2]!]!);
    byId.set(id, entry);
  }
  for (const r of byId.values()) r.formats.sort((a, b) => REPORT_FORMATS.indexOf(a) - REPORT_FORMATS.indexOf(b));
  return [...byId.values()].sort((a, b) => compareIds(b.id, a.id));
}

/** Orders ids by time, then by counter ("…Z" before "…Z-2" before "…Z-10"). */
function compareIds(a: string, b: string): number {
  const [ta = "", na = "0"] = a.split("-");
  const [tb = "", nb = "0"] = b.split("-");
  return ta === tb ? Number(na) - Number(nb) : ta < tb ? -1 : 1;
}

/** `baseId`, or `baseId-N` when files of it already exist (two runs in one second). */
export async function uniqueId(dir: string, baseId: string): Promise<string> {
  const taken = new Set((await listReports(dir)).map((r) => r.id));
  if (!taken.has(baseId)) return baseId;
  for (let n = 2; ; n++) if (!taken.has(`${baseId}-${n}`)) return `${baseId}-${n}`;
}

/**
 * Writes one file per format (to a temporary name, then renamed, so a reader never sees half a
 * report) and returns the paths.
 */
export async function writeReportFiles(dir: string, id: string, rendered: ReadonlyArray<[ReportFormat, string]>): Promise<string[]> {
  try {
    await mkdir(dir, { recursive: true });
    const paths: string[] = [];
    for (const [format, text] of rendered) {
      const file = path.join(dir, reportFileName(id, format));
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, text, "utf8");
      await rename(tmp, file);
      paths.push(file);
    }
    return paths;
  } catch (err) {
    throw failed(`cannot write report ${id} to ${dir}`, err);
  }
}

/**
 * The text of one stored report. The id must match {@link REPORT_ID_PATTERN}, so no request can
 * name a file outside `dir`.
 */
export async function readReportFile(dir: string, id: string, format: ReportFormat): Promise<string> {
  if (!REPORT_ID_PATTERN.test(id)) {
    throw new AnsaiError(ErrorCodes.QUERY_INVALID, `"${id.slice(0, 80)}" is not a report id`, "Use an id from GET /api/v1/reports, e.g. 20260105T070000Z.");
  }
  try {
    return await readFile(path.join(dir, reportFileName(id, format)), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw failed(`cannot read report ${id}`, err);
    throw new AnsaiError(
      ErrorCodes.REPORT_NOT_FOUND,
      `no ${format} report ${id}`,
      "List the reports with GET /api/v1/reports; make one with POST /api/v1/reports; reports.formats says which formats are written.",
    );
  }
}

/** Deletes the files of all but the newest `keep` reports; returns the deleted ids. */
export async function pruneReports(dir: string, keep: number): Promise<string[]> {
  const old = (await listReports(dir)).slice(keep);
  for (const r of old) {
    await Promise.all(r.formats.map((f) => rm(path.join(dir, reportFileName(r.id, f)), { force: true })));
  }
  return old.map((r) => r.id);
}

function failed(what: string, err: unknown): AnsaiError {
  return new AnsaiError(
    ErrorCodes.REPORT_FAILED,
    `${what}: ${err instanceof Error ? err.message : String(err)}`,
    "Check that the reports directory (reports.dir, default <data_dir>/reports) is writable and its disk has space.",
    { cause: err },
  );
}
