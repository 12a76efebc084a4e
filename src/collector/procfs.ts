import { close, open, read } from "node:fs";
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

/**
 * Reads a small per-process /proc file (stat, cmdline, cgroup, limits) with one open, as few
 * reads as it takes and a close: about 3× less CPU than fs/promises readFile, which matters
 * when a pass reads every process's stat. A short read ends the file, which holds for these
 * files (generated whole on open or read), not for page-at-a-time lists such as maps: use
 * {@link readText} for those.
 */
export function readProcFile(path: string, initialBytes = 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    open(path, "r", (openErr, fd) => {
      if (openErr) {
        reject(openErr);
        return;
      }
      let buf = Buffer.allocUnsafe(initialBytes);
      let len = 0;
      const finish = (err: Error | null): void => {
        close(fd, () => (err ? reject(err) : resolve(buf.toString("utf8", 0, len))));
      };
      const step = (): void => {
        read(fd, buf, len, buf.length - len, null, (err, n) => {
          if (err) return finish(err);
          len += n;
          if (n === 0 || len < buf.length) return finish(null);
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
          step();
        });
      };
      step();
    });
  });
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

/** Tags objects kept across passes: one frozen object per series while the series is seen. */
export interface TagsCache {
  /** The cached tags for `key`, or the result of `build` (frozen and cached) on a miss. `key` must identify every tag value. */
  get(key: string, build: () => Record<string, string>): Readonly<Record<string, string>>;
  /** Ends a pass: entries not used in this pass or the one before are dropped, so the cache stays bounded. */
  endPass(): void;
}

/**
 * Keeps the same tags object for a series from pass to pass: the analyzer recognises a known
 * tags object by identity and skips building its series key.
 */
export function createTagsCache(): TagsCache {
  let current = new Map<string, Readonly<Record<string, string>>>();
  let previous = new Map<string, Readonly<Record<string, string>>>();
  return {
    get(key, build) {
      let tags = current.get(key);
      if (tags !== undefined) return tags;
      tags = previous.get(key) ?? Object.freeze(build());
      current.set(key, tags);
      return tags;
    },
    endPass() {
      previous = current;
      current = new Map();
    },
  };
}

/** True for a non-empty string of ASCII digits, such as a /proc entry that is a pid. */
export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
