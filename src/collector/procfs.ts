import { readFile } from "node:fs/promises";

/** Errno code of a Node.js system error, or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** True when a /proc read failed because the process exited meanwhile: normal churn, not an error. */
export function isGone(err: unknown): boolean {
  const code = errnoCode(err);
  return code === "ENOENT" || code === "ESRCH";
}

/** Reads a small pseudo-file (/proc, /sys) as text. */
export function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}

/** Calls `fn` once per line of `text` without building an array of lines. */
export function forEachLine(text: string, fn: (line: string) => void): void {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    if (end > start) fn(text.slice(start, end));
    start = end + 1;
  }
}

/**
 * Parses /proc/meminfo into key → value. Values in `kB` become bytes; unit-less ones
 * (HugePages_Total) stay counts.
 */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  forEachLine(text, (line) => {
    const colon = line.indexOf(":");
    if (colon <= 0) return;
    const rest = line.slice(colon + 1).trim();
    const value = Number.parseInt(rest, 10);
    if (Number.isNaN(value)) return;
    out.set(line.slice(0, colon), rest.endsWith("kB") ? value * 1024 : value);
  });
  return out;
}

/** Maps `fn` over `items` with at most `limit` calls in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
